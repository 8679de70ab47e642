package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3Server is one versitygw of the stack.
type s3Server struct {
	name   string // component name
	port   int
	dir    string // data directory under .dev
	bucket string
}

// The S3 servers: the backup store and the replica store (backup.replica),
// which stands for a second region's.
var s3Servers = []s3Server{
	{name: "versitygw", port: S3Port, dir: "s3", bucket: Bucket},
	{name: "versitygw-b", port: S3BPort, dir: "s3-b", bucket: BucketB},
}

// versitygwArgs returns the command line of an S3 server: the gateway's
// global options, then the posix backend over dataDir. metaDir, when not
// empty, holds object metadata where the filesystem lacks user xattrs.
func versitygwArgs(port int, dataDir, metaDir string) []string {
	args := []string{"--port", addr(port), "--region", S3Region, "--quiet", "posix"}
	if metaDir != "" {
		args = append(args, "--sidecar", metaDir)
	}
	return append(args, dataDir)
}

// xattrSupported reports whether dir's filesystem takes user xattrs, which
// versitygw's posix backend keeps object metadata in.
func xattrSupported(dir string) bool {
	err := syscall.Setxattr(dir, "user.lifeboat-dev-probe", []byte("1"), 0)
	if err != nil {
		return false
	}
	_ = syscall.Removexattr(dir, "user.lifeboat-dev-probe")
	return true
}

// upS3 starts the S3 servers and creates their buckets.
func (s *Stack) upS3(ctx context.Context) error {
	for _, srv := range s3Servers {
		if err := s.upS3Server(ctx, srv); err != nil {
			return err
		}
	}
	return nil
}

// upS3Server starts one versitygw over its directory of .dev and creates
// its bucket.
func (s *Stack) upS3Server(ctx context.Context, srv s3Server) error {
	exe := filepath.Join(s.cfg.BinDir, "versitygw")
	dataDir := filepath.Join(s.devDir, srv.dir)
	// The choice is made once: the sidecar directory, once there, stays in use.
	metaDir := filepath.Join(s.devDir, srv.dir+"-meta")
	if !exists(metaDir) {
		if xattrSupported(dataDir) {
			metaDir = ""
		} else if err := os.MkdirAll(metaDir, 0o755); err != nil {
			return err
		}
	}
	access, secret := s.readSecret(secretS3AccessKey), s.readSecret(secretS3SecretKey)
	logPath := s.logPath(srv.name)
	pid, err := s.ensure(procSpec{
		name: srv.name,
		path: exe,
		args: versitygwArgs(srv.port, dataDir, metaDir),
		// Credentials go by environment, not argv, which ps shows.
		env:   append(os.Environ(), "ROOT_ACCESS_KEY_ID="+access, "ROOT_SECRET_ACCESS_KEY="+secret),
		dir:   s.devDir,
		log:   logPath,
		ports: []int{srv.port},
	})
	if err != nil {
		return err
	}
	client := s3.New(s3.Options{
		Region:       S3Region,
		BaseEndpoint: aws.String("http://" + addr(srv.port)),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
	})
	err = waitReady(ctx, srv.name, pid, exe, logPath, 30*time.Second, func(ctx context.Context) error {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "tcp", addr(srv.port))
		if err != nil {
			return err
		}
		c.Close()
		return createBucket(ctx, client, srv.bucket)
	})
	if err != nil {
		return err
	}
	s.ready(srv.name, addr(srv.port), fmt.Sprintf("S3, bucket %s, data %s", srv.bucket, dataDir))
	return nil
}

// createBucket creates bucket; one that exists already is fine.
func createBucket(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err == nil || errors.As(err, &owned) || errors.As(err, &exists) {
		return nil
	}
	return fmt.Errorf("create bucket %s: %w", bucket, err)
}
