package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/objstore/storetest"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/schemas"
)

// stackSecret reads secrets from the stack's environment, not the process's.
func stackSecret(s *schemas.Secret) (string, error) {
	for _, kv := range stack.Env() {
		if k, v, _ := strings.Cut(kv, "="); k == s.Env {
			return v, nil
		}
	}
	return "", fmt.Errorf("the stack's environment has no %s", s.Env)
}

// s3Store returns the stack's bucket at endpoint, with a fresh prefix.
func s3Store(t *testing.T, endpoint string) (*objstore.S3, schemas.Store) {
	t.Helper()
	st := schemas.Store{
		Type:       schemas.StoreS3,
		Bucket:     devstack.Bucket,
		Endpoint:   endpoint,
		Region:     devstack.S3Region,
		PathStyle:  true,
		Prefix:     uniquePrefix(t),
		AccessKey:  &schemas.Secret{Env: devstack.EnvS3AccessKey},
		SecretKey:  &schemas.Secret{Env: devstack.EnvS3SecretKey},
		PartSizeMB: objstore.MinPartSize >> 20,
	}
	s, err := objstore.NewS3(t.Context(), st, stackSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

var prefixSeq atomic.Int64

func uniquePrefix(t *testing.T) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return fmt.Sprintf("test/objstore/%d-%d-%s/", time.Now().UnixNano(), prefixSeq.Add(1), name)
}

// devS3Endpoint is the stack's S3 server.
var devS3Endpoint = fmt.Sprintf("http://%s:%d", devstack.Host, devstack.S3Port)

// devS3Store returns the stack's bucket with a fresh prefix that it empties,
// uploads included, when the test ends.
func devS3Store(t *testing.T) (*objstore.S3, schemas.Store) {
	t.Helper()
	s, st := s3Store(t, devS3Endpoint)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.Sweep(ctx, 0); err != nil {
			t.Errorf("clean up uploads: %v", err)
		}
		objs, err := s.List(ctx, "")
		if err != nil {
			t.Errorf("clean up: %v", err)
			return
		}
		for _, o := range objs {
			if err := s.Delete(ctx, o.Key); err != nil {
				t.Errorf("clean up: %v", err)
			}
		}
	})
	return s, st
}

func TestObjStoreS3_PassesStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store {
		s, _ := devS3Store(t)
		return s
	})
}

func TestObjStoreS3_UnreachableEndpointFailsFastNamingIt(t *testing.T) {
	const endpoint = "http://127.0.0.1:1"
	s, _ := s3Store(t, endpoint)
	start := time.Now()
	err := s.Ping(t.Context())
	if err == nil || !strings.Contains(err.Error(), endpoint) || !strings.Contains(err.Error(), devstack.Bucket) {
		t.Errorf("Ping = %v, want an error naming %s and the bucket", err, endpoint)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Ping took %v, want a fast failure", d)
	}
	// Data calls retry a little, then fail naming the endpoint too.
	start = time.Now()
	err = s.Put(t.Context(), "k", strings.NewReader("x"), 1)
	if err == nil || !strings.Contains(err.Error(), endpoint) {
		t.Errorf("Put = %v, want an error naming %s", err, endpoint)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Put took %v, want a failure within seconds", d)
	}
}

func TestObjStoreS3_WrongCredentialsFailPing(t *testing.T) {
	st := schemas.Store{
		Type:      schemas.StoreS3,
		Bucket:    devstack.Bucket,
		Endpoint:  devS3Endpoint,
		Region:    devstack.S3Region,
		PathStyle: true,
		AccessKey: &schemas.Secret{Env: "X"},
		SecretKey: &schemas.Secret{Env: "Y"},
	}
	s, err := objstore.NewS3(t.Context(), st, func(*schemas.Secret) (string, error) { return "wrong", nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping with wrong credentials succeeded")
	}
}

// TestObjStoreS3_SweepAbortsCrashLeftovers plays a worker that died in the
// middle of a multipart upload, which no abort of its own could clean up.
func TestObjStoreS3_SweepAbortsCrashLeftovers(t *testing.T) {
	s, st := devS3Store(t)
	access, _ := stackSecret(st.AccessKey)
	secret, _ := stackSecret(st.SecretKey)
	raw := s3.New(s3.Options{
		Region:       devstack.S3Region,
		BaseEndpoint: aws.String(devS3Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
	})
	if _, err := raw.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{
		Bucket: aws.String(devstack.Bucket),
		Key:    aws.String(st.Prefix + "base/crashed"),
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PendingUploads(t.Context()); n != 1 || err != nil {
		t.Fatalf("PendingUploads = %d, %v; want the crashed upload", n, err)
	}
	if n, err := s.Sweep(t.Context(), time.Hour); n != 0 || err != nil {
		t.Errorf("Sweep(1h) = %d, %v; want 0: the upload is recent", n, err)
	}
	// Servers round the start time; a second in the past is "older than 0".
	time.Sleep(time.Second)
	if n, err := s.Sweep(t.Context(), 0); n != 1 || err != nil {
		t.Errorf("Sweep(0) = %d, %v; want 1", n, err)
	}
	if n, err := s.PendingUploads(t.Context()); n != 0 || err != nil {
		t.Errorf("PendingUploads after Sweep = %d, %v; want 0", n, err)
	}
	if _, err := s.Stat(t.Context(), "base/crashed"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat of the crashed upload's key = %v, want ErrNotFound", err)
	}
}
