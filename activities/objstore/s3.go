// Package objstore reaches the object store that holds backups: an
// S3-compatible service (AWS, versitygw, ...) or a local directory.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/runnerhub/lifeboat/schemas"
)

// SecretFunc returns the value of a secret the topology names.
type SecretFunc func(*schemas.Secret) (string, error)

// S3 is a bucket of an S3-compatible service.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string
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
	return &S3{client: client, bucket: st.Bucket, prefix: st.Prefix}, nil
}

// Bucket is the bucket's name.
func (s *S3) Bucket() string { return s.bucket }

// Ping checks that the bucket exists and the credentials may use it.
func (s *S3) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return fmt.Errorf("head bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Local is a store in a directory of the worker's host.
type Local struct {
	dir string
}

// NewLocal returns the store rooted at dir.
func NewLocal(dir string) *Local { return &Local{dir: dir} }

// Bucket is the directory, which plays the bucket's part.
func (l *Local) Bucket() string { return l.dir }

// Ping checks that the directory exists.
func (l *Local) Ping(context.Context) error {
	fi, err := os.Stat(l.dir)
	if err != nil {
		return fmt.Errorf("local store: %w", err)
	}
	if !fi.IsDir() {
		return errors.New("local store: " + l.dir + " is not a directory")
	}
	return nil
}

// Pinger is the part of a store that health checks use.
type Pinger interface {
	// Ping returns nil when the store can be read and written.
	Ping(ctx context.Context) error
	// Bucket names the store in reports.
	Bucket() string
}

// Open returns the store the topology describes.
func Open(ctx context.Context, st schemas.Store, secret SecretFunc) (Pinger, error) {
	switch st.Type {
	case schemas.StoreS3:
		return NewS3(ctx, st, secret)
	case schemas.StoreLocal:
		return NewLocal(st.Path), nil
	default:
		return nil, fmt.Errorf("unknown store type %q", st.Type)
	}
}

var (
	_ Pinger = (*S3)(nil)
	_ Pinger = (*Local)(nil)
)
