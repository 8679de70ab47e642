package schemas

// ReplicateBackupInput copies one backup from the primary store to the
// replica store and verifies the copy.
type ReplicateBackupInput struct {
	Cluster string `json:"cluster"`
	ID      string `json:"id"`
}

// ReplicateBackupResult lists what was copied and what was there already.
type ReplicateBackupResult struct {
	// Replica names the store copied to.
	Replica string `json:"replica"`
	// Copied are the keys written; Verified are those found there already
	// with the right checksum.
	Copied   []string `json:"copied,omitempty"`
	Verified []string `json:"verified,omitempty"`
	// Bytes is the size of the objects copied.
	Bytes int64 `json:"bytes"`
}

// ReplicateProgress is the heartbeat of ReplicateBackup: the objects done,
// which a retry does not copy or check again.
type ReplicateProgress struct {
	Object    string   `json:"object"`
	BytesDone int64    `json:"bytes_done"`
	Done      []string `json:"done,omitempty"`
}
