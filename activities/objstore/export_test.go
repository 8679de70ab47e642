package objstore

import "github.com/runnerhub/lifeboat/schemas"

// NewFakeS3Store returns an S3 store over an in-memory bucket, with parts of
// the minimum size, for the tests of package objstore_test.
func NewFakeS3Store(prefix string) *S3 {
	s, err := newS3(newFakeS3(), schemas.Store{Type: schemas.StoreS3, Bucket: "bucket", Endpoint: "http://fake", Prefix: prefix, PartSizeMB: MinPartSize >> 20})
	if err != nil {
		panic(err)
	}
	return s
}
