package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// fakeS3 is an in-memory bucket that answers like S3 and fails the calls a
// test chooses, so the uploader's failure paths can be walked one by one.
type fakeS3 struct {
	// discard keeps only the length of uploaded parts, so that a test can
	// measure the uploader's own memory.
	discard bool
	// failPart, failComplete and failAbort, when set, fail those calls.
	failPart     func(num int32) error
	failComplete error
	failAbort    error
	// partDelay slows each part upload down, to let them overlap.
	partDelay time.Duration

	mu       sync.Mutex
	objects  map[string]fakeObject
	uploads  map[string]*fakeUpload
	nextID   int
	calls    map[string]int
	inFlight int
	maxIn    int
}

type fakeObject struct {
	data    []byte
	modTime time.Time
}

type fakeUpload struct {
	key       string
	initiated time.Time
	parts     map[int32][]byte
	sizes     map[int32]int
}

func newFakeS3() *fakeS3 {
	return &fakeS3{objects: map[string]fakeObject{}, uploads: map[string]*fakeUpload{}, calls: map[string]int{}}
}

func (f *fakeS3) count(op string) {
	f.mu.Lock()
	f.calls[op]++
	f.mu.Unlock()
}

func (f *fakeS3) called(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// fakeAPIError has the method of smithy.APIError that notFound looks at.
type fakeAPIError string

func (e fakeAPIError) Error() string     { return "api error " + string(e) }
func (e fakeAPIError) ErrorCode() string { return string(e) }

func (f *fakeS3) HeadBucket(ctx context.Context, in *s3.HeadBucketInput, _ ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	return &s3.HeadBucketOutput{}, ctx.Err()
}

func (f *fakeS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[*in.Key]
	if !ok {
		return nil, &types.NotFound{}
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(o.data))), LastModified: aws.Time(o.modTime)}, nil
}

func (f *fakeS3) GetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[*in.Key]
	if !ok {
		return nil, &types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(o.data))}, nil
}

func (f *fakeS3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.count("PutObject")
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[*in.Key] = fakeObject{b, time.Now()}
	return &s3.PutObjectOutput{}, nil
}

func (f *fakeS3) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objects, *in.Key)
	return &s3.DeleteObjectOutput{}, nil
}

func (f *fakeS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Two keys a page, to walk the paginator.
	var ks []string
	for k := range f.objects {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) && k > aws.ToString(in.ContinuationToken) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	out := &s3.ListObjectsV2Output{}
	if len(ks) > 2 {
		ks = ks[:2]
		out.IsTruncated = aws.Bool(true)
		out.NextContinuationToken = aws.String(ks[1])
	}
	for _, k := range ks {
		o := f.objects[k]
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k), Size: aws.Int64(int64(len(o.data))), LastModified: aws.Time(o.modTime)})
	}
	return out, nil
}

func (f *fakeS3) ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, _ ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &s3.ListMultipartUploadsOutput{}
	for id, u := range f.uploads {
		if strings.HasPrefix(u.key, aws.ToString(in.Prefix)) {
			out.Uploads = append(out.Uploads, types.MultipartUpload{Key: aws.String(u.key), UploadId: aws.String(id), Initiated: aws.Time(u.initiated)})
		}
	}
	return out, nil
}

func (f *fakeS3) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	f.count("CreateMultipartUpload")
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := fmt.Sprint(f.nextID)
	f.uploads[id] = &fakeUpload{key: *in.Key, initiated: time.Now(), parts: map[int32][]byte{}, sizes: map[int32]int{}}
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String(id)}, nil
}

func (f *fakeS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	f.count("UploadPart")
	f.mu.Lock()
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	num := *in.PartNumber
	h := sha256.New()
	var keep bytes.Buffer
	w := io.Writer(h)
	if !f.discard {
		w = io.MultiWriter(h, &keep)
	}
	n, err := io.Copy(w, in.Body)
	if err != nil {
		return nil, err
	}
	if f.partDelay > 0 {
		select {
		case <-time.After(f.partDelay):
		case <-ctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.failPart != nil {
		if err := f.failPart(num); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.uploads[*in.UploadId]
	if !ok {
		return nil, &types.NoSuchUpload{}
	}
	u.parts[num], u.sizes[num] = keep.Bytes(), int(n)
	return &s3.UploadPartOutput{ETag: aws.String(fmt.Sprintf("%x", h.Sum(nil)))}, nil
}

func (f *fakeS3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	f.count("CompleteMultipartUpload")
	if f.failComplete != nil {
		return nil, f.failComplete
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.uploads[*in.UploadId]
	if !ok {
		return nil, &types.NoSuchUpload{}
	}
	var data []byte
	parts := in.MultipartUpload.Parts
	for i, p := range parts {
		num := *p.PartNumber
		if num != int32(i+1) {
			return nil, fakeAPIError("InvalidPartOrder")
		}
		if _, ok := u.sizes[num]; !ok || aws.ToString(p.ETag) == "" {
			return nil, fakeAPIError("InvalidPart")
		}
		if i < len(parts)-1 && u.sizes[num] < MinPartSize {
			return nil, fakeAPIError("EntityTooSmall")
		}
		data = append(data, u.parts[num]...)
	}
	delete(f.uploads, *in.UploadId)
	f.objects[u.key] = fakeObject{data, time.Now()}
	return &s3.CompleteMultipartUploadOutput{}, nil
}

func (f *fakeS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.count("AbortMultipartUpload")
	if f.failAbort != nil {
		return nil, f.failAbort
	}
	if err := ctx.Err(); err != nil {
		return nil, errors.New("abort called with a dead context")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.uploads[*in.UploadId]; !ok {
		return nil, &types.NoSuchUpload{}
	}
	delete(f.uploads, *in.UploadId)
	return &s3.AbortMultipartUploadOutput{}, nil
}

var _ s3API = (*fakeS3)(nil)
