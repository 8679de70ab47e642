package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/runnerhub/lifeboat/schemas"
)

// Multipart upload limits. S3 takes at most 10,000 parts of 5 MiB to 5 GiB,
// the last one smaller.
const (
	DefaultPartSize          = 16 << 20
	MinPartSize              = 5 << 20
	MaxPartSize              = 5 << 30
	DefaultUploadConcurrency = 4
	MaxUploadConcurrency     = 64
	maxParts                 = 10000
)

// abortTimeout bounds the clean-up of a failed upload, which runs even when
// the Put's context is already cancelled.
const abortTimeout = time.Minute

// s3API is the part of *s3.Client the store uses; tests put a fake in its
// place to fail chosen calls.
type s3API interface {
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	ListMultipartUploads(context.Context, *s3.ListMultipartUploadsInput, ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

// S3 is a bucket, or a folder of one, of an S3-compatible service.
type S3 struct {
	client      s3API
	bucket      string
	prefix      string // "" or ends with "/"
	endpoint    string
	region      string
	partSize    int64
	concurrency int
}

// NewS3 builds a client for the store. Credentials come from the secrets the
// topology names, or from the usual AWS chain when it names none.
func NewS3(ctx context.Context, st schemas.Store, secret SecretFunc) (*S3, error) {
	if st.Type != schemas.StoreS3 {
		return nil, fmt.Errorf("store type %q is not s3", st.Type)
	}
	region := st.Region
	if region == "" {
		region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if st.AccessKey != nil || st.SecretKey != nil {
		id, err := secret(st.AccessKey)
		if err != nil {
			return nil, fmt.Errorf("s3 access key: %w", err)
		}
		key, err := secret(st.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("s3 secret key: %w", err)
		}
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, key, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if st.Endpoint != "" {
			o.BaseEndpoint = aws.String(st.Endpoint)
		}
		o.UsePathStyle = st.PathStyle
	})
	st.Region = region
	return newS3(client, st)
}

// newS3 checks the tuning of st and returns the store over client.
func newS3(client s3API, st schemas.Store) (*S3, error) {
	s := &S3{
		client:      client,
		bucket:      st.Bucket,
		endpoint:    st.Endpoint,
		region:      st.Region,
		partSize:    DefaultPartSize,
		concurrency: DefaultUploadConcurrency,
	}
	// The prefix is a folder: "a/b" and "/a/b/" both put keys under "a/b/".
	if p := strings.Trim(st.Prefix, "/"); p != "" {
		s.prefix = p + "/"
	}
	if st.PartSizeMB != 0 {
		s.partSize = int64(st.PartSizeMB) << 20
		if s.partSize < MinPartSize || s.partSize > MaxPartSize {
			return nil, fmt.Errorf("s3 store %s: part_size_mb %d is outside %d..%d", s, st.PartSizeMB, MinPartSize>>20, MaxPartSize>>20)
		}
	}
	if st.UploadConcurrency != 0 {
		s.concurrency = st.UploadConcurrency
		if s.concurrency < 1 || s.concurrency > MaxUploadConcurrency {
			return nil, fmt.Errorf("s3 store %s: upload_concurrency %d is outside 1..%d", s, st.UploadConcurrency, MaxUploadConcurrency)
		}
	}
	return s, nil
}

// String names the bucket, the folder and the endpoint.
func (s *S3) String() string {
	where := s.endpoint
	if where == "" {
		where = "AWS " + s.region
	}
	return "s3://" + s.bucket + "/" + s.prefix + " at " + where
}

// Bucket is the bucket's name.
func (s *S3) Bucket() string { return s.bucket }

// PartSize is the size of the parts of a multipart upload, which is also the
// size from which a Put uses one.
func (s *S3) PartSize() int64 { return s.partSize }

// Ping checks that the bucket exists and the credentials may use it. It tries
// once: a health check reports what it sees and its caller decides on retries.
func (s *S3) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}, func(o *s3.Options) {
		o.RetryMaxAttempts = 1
	})
	if err != nil {
		return fmt.Errorf("ping %s: %w", s, err)
	}
	return nil
}

// Put sends an object smaller than one part with a single PutObject, and a
// larger one, or a stream that turns out larger, as a multipart upload of at
// most concurrency parts in flight. It holds at most part size × (concurrency
// + 1) bytes of content. A failed multipart upload is aborted, even when ctx
// is cancelled, so no parts remain; only a crash of the process can leave
// some, which Sweep or a bucket lifecycle rule removes.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	if err := checkKey(key); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("put %s in %s: %w", key, s, err)
		}
	}()
	if size > s.partSize*maxParts {
		return fmt.Errorf("%d bytes exceed %d parts of %d MiB; raise part_size_mb", size, maxParts, s.partSize>>20)
	}
	r = ctxReader{ctx, r}
	n := s.partSize
	if size >= 0 && size < n {
		n = size
	}
	first := make([]byte, n)
	got, err := io.ReadFull(r, first)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return s.putSmall(ctx, key, first[:got], size)
	case err != nil:
		return readErr(err)
	case size >= 0 && size < s.partSize:
		// Read one byte more to catch a reader longer than its size.
		if m, err := io.ReadFull(r, make([]byte, 1)); m > 0 {
			return fmt.Errorf("content is longer than its size %d", size)
		} else if err != io.EOF {
			return readErr(err)
		}
		return s.putSmall(ctx, key, first, size)
	}
	return s.putMultipart(ctx, key, r, first, size)
}

func (s *S3) putSmall(ctx context.Context, key string, b []byte, size int64) error {
	if size >= 0 && int64(len(b)) != size {
		return fmt.Errorf("content is %d bytes, size says %d", len(b), size)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + key),
		Body:          bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))),
	})
	return err
}

// putMultipart uploads first and the rest of r as one multipart upload, and
// completes it or aborts it.
func (s *S3) putMultipart(ctx context.Context, key string, r io.Reader, first []byte, size int64) (err error) {
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(s.prefix + key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return err
	}
	id := aws.ToString(out.UploadId)
	defer func() {
		if err != nil {
			if aerr := s.abort(ctx, s.prefix+key, id); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
	}()
	parts, total, err := s.uploadParts(ctx, key, id, r, first)
	if err != nil {
		return err
	}
	if size >= 0 && total != size {
		return fmt.Errorf("content is %d bytes, size says %d", total, size)
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(s.prefix + key),
		UploadId:        aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

// uploadParts reads r part by part after first and uploads the parts with
// s.concurrency workers. It returns the parts in order and the total size,
// or the first error, once no upload is in flight any more.
func (s *S3) uploadParts(ctx context.Context, key, id string, r io.Reader, first []byte) ([]types.CompletedPart, int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	type part struct {
		num int32
		buf []byte
	}
	work := make(chan part)
	// Buffers come back here once uploaded; at most concurrency + 1 exist:
	// one being filled, the others being sent.
	free := make(chan []byte, s.concurrency+1)
	allocated := 1
	getBuf := func() []byte {
		select {
		case b := <-free:
			return b
		default:
		}
		if allocated < s.concurrency+1 {
			allocated++
			return make([]byte, s.partSize)
		}
		select {
		case b := <-free:
			return b
		case <-ctx.Done():
			return nil
		}
	}

	var (
		mu   sync.Mutex
		done []types.CompletedPart
		wg   sync.WaitGroup
	)
	for range s.concurrency {
		wg.Go(func() {
			for p := range work {
				out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
					Bucket:            aws.String(s.bucket),
					Key:               aws.String(s.prefix + key),
					UploadId:          aws.String(id),
					PartNumber:        aws.Int32(p.num),
					Body:              bytes.NewReader(p.buf),
					ContentLength:     aws.Int64(int64(len(p.buf))),
					ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
				})
				if err != nil {
					cancel(fmt.Errorf("upload part %d: %w", p.num, err))
				} else {
					mu.Lock()
					done = append(done, types.CompletedPart{
						PartNumber:    aws.Int32(p.num),
						ETag:          out.ETag,
						ChecksumCRC32: out.ChecksumCRC32,
					})
					mu.Unlock()
				}
				free <- p.buf[:cap(p.buf)]
			}
		})
	}

	var total int64
	buf, n, last := first, len(first), false
	for num := int32(1); ; num++ {
		if num > maxParts {
			cancel(fmt.Errorf("content exceeds %d parts of %d MiB; raise part_size_mb", maxParts, s.partSize>>20))
			break
		}
		select {
		case work <- part{num, buf[:n]}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		total += int64(n)
		if last {
			break
		}
		if buf = getBuf(); buf == nil {
			break
		}
		var err error
		n, err = io.ReadFull(r, buf)
		if err == io.EOF {
			break
		}
		if err == io.ErrUnexpectedEOF {
			last = true
		} else if err != nil {
			cancel(readErr(err))
			break
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, 0, err
	}
	slices.SortFunc(done, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	return done, total, nil
}

// abort removes a multipart upload and its parts; one already gone is fine.
func (s *S3) abort(ctx context.Context, fullKey, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	// A part upload the server was still handling can outlive the abort
	// (S3's documentation says to abort again until the upload is gone):
	// the upload is listed again and aborted again, a few times.
	for attempt := 0; ; attempt++ {
		_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket:   aws.String(s.bucket),
			Key:      aws.String(fullKey),
			UploadId: aws.String(id),
		})
		var gone *types.NoSuchUpload
		if err != nil && !errors.As(err, &gone) {
			return fmt.Errorf("abort multipart upload %s (its parts remain until Sweep or a lifecycle rule removes them): %w", id, err)
		}
		ups, err := s.uploadsOf(ctx, fullKey)
		if err != nil || attempt == abortAttempts-1 || !slices.ContainsFunc(ups, func(u types.MultipartUpload) bool { return aws.ToString(u.UploadId) == id }) {
			return nil // aborted, or as far as can be told here: Sweep removes what is left
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// abortAttempts bounds the aborts of one multipart upload.
const abortAttempts = 3

// notFound reports whether err is S3's answer for a missing object. HEAD
// answers carry no body, hence no code but NotFound.
func notFound(err error) bool {
	var (
		nsk  *types.NoSuchKey
		nf   *types.NotFound
		code interface{ ErrorCode() string }
	)
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	if errors.As(err, &code) {
		switch code.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		}
	}
	return false
}

// Get opens the object's body.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if notFound(err) {
		return nil, fmt.Errorf("get %s in %s: %w", key, s, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s in %s: %w", key, s, err)
	}
	return out.Body, nil
}

// Stat asks for the object's head.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if notFound(err) {
		return ObjectInfo{}, fmt.Errorf("stat %s in %s: %w", key, s, ErrNotFound)
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s in %s: %w", key, s, err)
	}
	return ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// List pages through ListObjectsV2.
func (s *S3) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	var out []ObjectInfo
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %q in %s: %w", prefix, s, err)
		}
		for _, o := range page.Contents {
			out = append(out, ObjectInfo{
				Key:     strings.TrimPrefix(aws.ToString(o.Key), s.prefix),
				Size:    aws.ToInt64(o.Size),
				ModTime: aws.ToTime(o.LastModified),
			})
		}
	}
	// S3 sorts by UTF-8 bytes already; S3-compatible servers need not.
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes the object; S3 answers a missing one with success already.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete %s in %s: %w", key, s, err)
	}
	return nil
}

// uploads lists the multipart uploads begun under the store's prefix and
// neither completed nor aborted.
func (s *S3) uploads(ctx context.Context) ([]types.MultipartUpload, error) {
	return s.uploadsOf(ctx, s.prefix)
}

// uploadsOf lists the pending multipart uploads of the keys that start
// with prefix (a full key, the store's prefix included).
func (s *S3) uploadsOf(ctx context.Context, prefix string) ([]types.MultipartUpload, error) {
	var out []types.MultipartUpload
	pages := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list multipart uploads in %s: %w", s, err)
		}
		out = append(out, page.Uploads...)
	}
	return out, nil
}

// PendingUploads counts the multipart uploads under the store's prefix that
// are neither completed nor aborted: running, or left by a crash.
func (s *S3) PendingUploads(ctx context.Context) (int, error) {
	ups, err := s.uploads(ctx)
	return len(ups), err
}

// Sweep aborts the multipart uploads under the store's prefix begun more than
// olderThan ago, which only a crash leaves behind, and returns how many it
// aborted. olderThan must exceed the longest Put still running.
func (s *S3) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	ups, err := s.uploads(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-olderThan)
	n := 0
	for _, u := range ups {
		if u.Initiated != nil && !u.Initiated.Before(cutoff) {
			continue
		}
		if err := s.abort(ctx, aws.ToString(u.Key), aws.ToString(u.UploadId)); err != nil {
			return n, fmt.Errorf("sweep %s: %w", s, err)
		}
		n++
	}
	return n, nil
}

// SweepKey aborts the multipart uploads of key that are neither completed
// nor aborted, and returns how many it aborted.
func (s *S3) SweepKey(ctx context.Context, key string) (int, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	ups, err := s.uploadsOf(ctx, s.prefix+key)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range ups {
		if aws.ToString(u.Key) != s.prefix+key {
			continue
		}
		if err := s.abort(ctx, aws.ToString(u.Key), aws.ToString(u.UploadId)); err != nil {
			return n, fmt.Errorf("sweep %s in %s: %w", key, s, err)
		}
		n++
	}
	return n, nil
}
