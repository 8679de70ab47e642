package schemas

import (
	"strings"
	"time"
)

// Workflow type names of file sync.
const (
	// FileSyncWorkflow replicates a cluster's file trees to their copies.
	FileSyncWorkflow = "FileSync"
	// VerifyFilesWorkflow rehashes the copies and reports every difference.
	VerifyFilesWorkflow = "VerifyFiles"
)

// FileSyncKind is the LifeboatKind search attribute of file syncs and verifications.
const (
	FileSyncKind    = "filesync"
	VerifyFilesKind = "filesync-verify"
)

// FileSyncEvery is the interval of the file sync schedule `lifeboat schedules apply` keeps.
const FileSyncEvery = time.Hour

// FileSyncRunTimeout bounds one file sync run, as BackupRunTimeout does a
// backup. A manual sync joins the scheduled one's workflow, so the two
// share the bound.
const FileSyncRunTimeout = 24 * time.Hour

// FileSyncScrubEvery is how often a sync reads every file of a copy again
// rather than trusting what has not changed on disk since it was written:
// it finds the damage (bit rot) that leaves a file's metadata alone.
const FileSyncScrubEvery = 24 * time.Hour

// FileSyncWorkflowID is the one ID under which a cluster's files are synced,
// so two syncs of a tree never write its copy side by side.
func FileSyncWorkflowID(cluster string) string { return "filesync/" + cluster }

// FileSyncScheduleID names the hourly file sync schedule. It lives under the
// backup schedules' prefix, which `lifeboat schedules apply` owns.
func FileSyncScheduleID(cluster string) string { return BackupSchedulePrefix(cluster) + FileSyncKind }

// Stores a tree's copy may live in (FileSyncTarget.Store).
const (
	SyncStoreBackup  = "backup"
	SyncStoreReplica = "replica"
)

// FileSyncTarget is where file sync keeps a copy of a tree: a directory on
// the hosts of a region (Region and Path), or one of the topology's object
// stores (Store).
type FileSyncTarget struct {
	// Region is the region whose workers write the copy into Path.
	Region string `json:"region,omitempty"`
	// Path is the directory of the copy on that region's hosts.
	Path string `json:"path,omitempty"`
	// Store keeps the copy in an object store instead: "backup" (backup.store)
	// or "replica" (backup.replica).
	Store string `json:"store,omitempty"`
}

// CopyRegion is the region whose workers write the tree's copy: the copy's
// region for a directory, the tree's own for a store (its worker uploads).
func (t FileTree) CopyRegion() string {
	if t.Sync != nil && t.Sync.Store == "" {
		return t.Sync.Region
	}
	return t.Region
}

// Describe names the copy for messages: region:path or store:name.
func (s FileSyncTarget) Describe() string {
	if s.Store != "" {
		return "store:" + s.Store
	}
	return s.Region + ":" + s.Path
}

// Object keys of file sync, under the cluster's name like every other key.
// Everything of one tree lives below FileSyncPrefix in the store that holds
// its sync state: backup.store for a directory copy, the copy's own store
// for a store copy.

// FileSyncPrefix is the folder of one tree's sync state.
func FileSyncPrefix(cluster, tree string) string { return cluster + "/filesync/" + tree + "/" }

// FileCopyManifestKey is the manifest of what the copy holds, written by
// the last successful sync.
func FileCopyManifestKey(cluster, tree string) string {
	return FileSyncPrefix(cluster, tree) + "copy.manifest.zst"
}

// FileSourceCacheKey is the last manifest of the source, whose hashes a scan
// reuses for files that have not changed on disk since.
func FileSourceCacheKey(cluster, tree string) string {
	return FileSyncPrefix(cluster, tree) + "source.manifest.zst"
}

// FileSyncStatusKey is the small record of the last successful sync that
// the lag metric reads.
func FileSyncStatusKey(cluster, tree string) string {
	return FileSyncPrefix(cluster, tree) + "status.json"
}

// FileSuspectsKey lists copy files a verification found damaged, which
// the next sync reads again whatever their metadata says.
func FileSuspectsKey(cluster, tree string) string {
	return FileSyncPrefix(cluster, tree) + "suspects.json"
}

// FileSyncRunsPrefix holds the working objects of every sync run of a tree.
func FileSyncRunsPrefix(cluster, tree string) string { return FileSyncPrefix(cluster, tree) + "runs/" }

// FileSyncRunKey is one working object of a run: manifests, plan, staged
// batches. A run's objects go when it ends.
func FileSyncRunKey(cluster, tree, run, name string) string {
	return FileSyncRunsPrefix(cluster, tree) + run + "/" + name
}

// FileObjectsPrefix holds the sealed contents of a store copy.
func FileObjectsPrefix(cluster, tree string) string {
	return FileSyncPrefix(cluster, tree) + "objects/"
}

// FileObjectKey is where a store copy keeps the content whose SHA-256 is sum.
func FileObjectKey(cluster, tree, sum string) string {
	return FileObjectsPrefix(cluster, tree) + sum[:2] + "/" + sum + ".zst.age"
}

// FileObjectSum is the SHA-256 a FileObjectKey names, or "".
func FileObjectSum(cluster, tree, key string) string {
	rest, ok := strings.CutPrefix(key, FileObjectsPrefix(cluster, tree))
	if !ok {
		return ""
	}
	_, name, _ := strings.Cut(rest, "/")
	sum, ok := strings.CutSuffix(name, ".zst.age")
	if !ok || len(sum) != 64 {
		return ""
	}
	return sum
}

// FileSyncInput is the input of the FileSync workflow.
type FileSyncInput struct {
	Cluster string `json:"cluster"`
	// Tree syncs only the named tree; empty syncs every tree with a sync target.
	Tree string `json:"tree,omitempty"`
	// Rehash reads every file of the copy again instead of trusting files
	// whose size, times and inode are as the last sync left them.
	Rehash bool `json:"rehash,omitempty"`
	// BatchFiles and BatchMB bound one transfer batch; zero means
	// DefaultBatchFiles and DefaultBatchMB.
	BatchFiles int `json:"batch_files,omitempty"`
	BatchMB    int `json:"batch_mb,omitempty"`
}

// Default bounds of a transfer batch: a retried batch redoes at most this
// much, and batch i+1 is read and sent while batch i is written, so smaller
// batches overlap the two sides sooner, at a few tenths of a second each.
const (
	DefaultBatchFiles = 4096
	DefaultBatchMB    = 64
)

// FileSyncResult is the result of the FileSync workflow.
type FileSyncResult struct {
	Trees []FileSyncTreeResult `json:"trees"`
	// Seconds is how long the whole sync took.
	Seconds float64 `json:"seconds"`
	// RanAs names the workflow that did the sync when this one handed it
	// over (a scheduled run goes through the cluster's one sync ID).
	RanAs string `json:"ran_as,omitempty"`
	// Skipped says why nothing was done: a sync of the cluster was running.
	Skipped string `json:"skipped,omitempty"`
}

// FileSyncTreeResult is what the sync of one tree did.
type FileSyncTreeResult struct {
	Tree   string `json:"tree"`
	Target string `json:"target"`
	// Files and Bytes are the source's regular files and their size.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Hashed files of the source were read; the others kept the hash of
	// the last scan, their size, times and inode being unchanged.
	Hashed int `json:"hashed"`
	// Rehashed files of the copy were read again.
	Rehashed int `json:"rehashed"`
	// Copied files went over in batches: CopiedBytes plain, SentBytes
	// compressed and encrypted.
	Copied      int   `json:"copied"`
	CopiedBytes int64 `json:"copied_bytes"`
	SentBytes   int64 `json:"sent_bytes"`
	Batches     int   `json:"batches"`
	// Local files were made at the copy from content it already held
	// (renamed or duplicated files): nothing crossed regions.
	Local int `json:"local"`
	// Deleted entries went from the copy; Kept are copy entries the
	// source no longer has, kept because the tree does not allow deletes.
	Deleted int `json:"deleted"`
	Kept    int `json:"kept"`
	// Metadata entries had only their mode, times or link target set.
	Metadata int `json:"metadata"`
	// Damaged copy files did not hash to what the last sync wrote; they
	// were copied again.
	Damaged []string `json:"damaged,omitempty"`
	// Resumed files were found written and verified by an earlier attempt.
	Resumed int `json:"resumed"`
	// Skipped source files changed while they were sent; the next sync
	// takes them. Conflicts are source paths the copy holds as another
	// type, left alone because the tree does not allow deletes.
	Skipped   []string `json:"skipped,omitempty"`
	Conflicts []string `json:"conflicts,omitempty"`
	// SourceTime is when the source was read: the copy now holds the tree
	// as it was then, the recovery point of the files.
	SourceTime time.Time `json:"source_time"`
	Seconds    float64   `json:"seconds"`
}

// FileSyncProgress is the heartbeat of every long file sync activity.
type FileSyncProgress struct {
	Tree string `json:"tree"`
	// Phase is scan-source, scan-copy, send, apply or verify.
	Phase string `json:"phase"`
	// Batch is the batch sent or applied.
	Batch int `json:"batch,omitempty"`
	// Done counts the files handled; a retried apply resumes after them.
	Done  int `json:"done"`
	Total int `json:"total,omitempty"`
	// Bytes read or written so far.
	Bytes int64 `json:"bytes"`
	// Checkpoint is the key of the scan's saved hashes, which a retried
	// scan starts from.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Sent holds the sums of a batch whose upload finished, so a retried
	// send whose batch is stored does not send it again.
	Sent *SendFileBatchResult `json:"sent,omitempty"`
}

// Phases of FileSyncProgress.
const (
	PhaseScanSource = "scan-source"
	PhaseScanCopy   = "scan-copy"
	PhaseSend       = "send"
	PhaseApply      = "apply"
	PhaseVerify     = "verify"
)

// ScanFileTreeInput is the input of the ScanFileTree activity.
type ScanFileTreeInput struct {
	Cluster string `json:"cluster"`
	Tree    string `json:"tree"`
	// Run names the sync run whose working objects the manifest joins.
	Run string `json:"run"`
	// Plan makes the scan also plan the sync against what the last sync
	// left at the copy, as PlanFileSync would with these batch bounds: when
	// the copy's scan finds it unchanged, that plan is the plan.
	Plan       bool `json:"plan,omitempty"`
	BatchFiles int  `json:"batch_files,omitempty"`
	BatchMB    int  `json:"batch_mb,omitempty"`
}

// ScanFileTreeResult is the result of the ScanFileTree activity.
type ScanFileTreeResult struct {
	// Key is the source manifest in the sync store.
	Key    string `json:"key"`
	Files  int    `json:"files"`
	Bytes  int64  `json:"bytes"`
	Hashed int    `json:"hashed"`
	// HashedBytes were read to hash them.
	HashedBytes int64 `json:"hashed_bytes"`
	// Skipped lists what the manifest leaves out (sockets, devices,
	// files removed during the scan), each with the reason.
	Skipped []string `json:"skipped,omitempty"`
	// Taken is when the scan began.
	Taken time.Time `json:"taken"`
	// Plan is the plan made with Plan set, against the copy as the last
	// sync left it; nil when none was made.
	Plan *PlanFileSyncResult `json:"plan,omitempty"`
}

// ScanFileCopyInput is the input of the ScanFileCopy activity.
type ScanFileCopyInput struct {
	Cluster string `json:"cluster"`
	Tree    string `json:"tree"`
	Run     string `json:"run"`
	// Rehash reads every file again (see FileSyncInput.Rehash).
	Rehash bool `json:"rehash,omitempty"`
}

// ScanFileCopyResult is the result of the ScanFileCopy activity.
type ScanFileCopyResult struct {
	// Key is the manifest of what the copy holds, in the sync store.
	Key      string `json:"key"`
	Files    int    `json:"files"`
	Bytes    int64  `json:"bytes"`
	Rehashed int    `json:"rehashed"`
	// Scrubbed says every file was read (Rehash, or the scrub was due).
	Scrubbed bool `json:"scrubbed"`
	// Damaged lists copy files whose content is not what the last sync
	// wrote (the first MaxListed of them); DamagedCount counts them all.
	Damaged      []string `json:"damaged,omitempty"`
	DamagedCount int      `json:"damaged_count"`
	// Unchanged says the copy is exactly as the last sync left it, entry
	// for entry: a plan made against that is the plan.
	Unchanged bool `json:"unchanged,omitempty"`
}

// MaxListed bounds the paths a result lists, so results stay small in
// workflow history; counts are always whole.
const MaxListed = 100

// PlanFileSyncInput is the input of the PlanFileSync activity.
type PlanFileSyncInput struct {
	Cluster    string `json:"cluster"`
	Tree       string `json:"tree"`
	Run        string `json:"run"`
	BatchFiles int    `json:"batch_files,omitempty"`
	BatchMB    int    `json:"batch_mb,omitempty"`
}

// PlanFileSyncResult is the result of the PlanFileSync activity; the plan
// itself is in the sync store, one object per batch.
type PlanFileSyncResult struct {
	// Batches has, per batch, the files to transfer and their bytes.
	// Batch 0 also carries the work done at the copy before any transfer.
	Batches []FileBatchSummary `json:"batches"`
	// Copy counts and sizes every file to transfer.
	Copy      int   `json:"copy"`
	CopyBytes int64 `json:"copy_bytes"`
	Local     int   `json:"local"`
	Metadata  int   `json:"metadata"`
	Delete    int   `json:"delete"`
	Kept      int   `json:"kept"`
	// Conflicts lists (up to MaxListed) source paths left alone.
	Conflicts []string `json:"conflicts,omitempty"`
	// First is batch 0, sent by the plan itself when it transfers files:
	// a sync of a few changed files then takes one round trip less.
	First *SendFileBatchResult `json:"first,omitempty"`
}

// FileBatchSummary says what one batch of a plan holds.
type FileBatchSummary struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// SendFileBatchInput is the input of the SendFileBatch activity.
type SendFileBatchInput struct {
	Cluster string `json:"cluster"`
	Tree    string `json:"tree"`
	Run     string `json:"run"`
	Batch   int    `json:"batch"`
}

// SendFileBatchResult is the result of the SendFileBatch activity: for a
// directory copy the staged batch and its sums, which the apply checks the
// download against; for a store copy the objects are already in place.
type SendFileBatchResult struct {
	Key          string `json:"key,omitempty"`
	Files        int    `json:"files"`
	PlainSize    int64  `json:"plain_size"`
	StoredSize   int64  `json:"stored_size"`
	PlainSHA256  string `json:"plain_sha256,omitempty"`
	StoredSHA256 string `json:"stored_sha256,omitempty"`
	// FileBytes is the size of the files sent.
	FileBytes int64 `json:"file_bytes"`
	// Skipped lists source files that changed while they were read.
	Skipped []string `json:"skipped,omitempty"`
}

// ApplyFileBatchInput is the input of the ApplyFileBatch activity.
type ApplyFileBatchInput struct {
	Cluster string `json:"cluster"`
	Tree    string `json:"tree"`
	Run     string `json:"run"`
	Batch   int    `json:"batch"`
	// Sent is what SendFileBatch staged; zero when the batch transfers nothing.
	Sent SendFileBatchResult `json:"sent"`
	// Commit makes the apply of the last batch also commit the sync
	// (CommitFileSync), a round trip less.
	Commit bool `json:"commit,omitempty"`
}

// ApplyFileBatchResult is the result of the ApplyFileBatch activity.
type ApplyFileBatchResult struct {
	Written      int   `json:"written"`
	WrittenBytes int64 `json:"written_bytes"`
	Local        int   `json:"local"`
	// Resumed files were found in place, written and verified by an
	// earlier attempt of this batch, and were not written again.
	Resumed int `json:"resumed"`
	// Skipped lists files the sender found changing; they are not written.
	Skipped []string `json:"skipped,omitempty"`
	// Committed is what the commit did, when the input asked for it.
	Committed *CommitFileSyncResult `json:"committed,omitempty"`
}

// CommitFileSyncInput is the input of the CommitFileSync activity.
type CommitFileSyncInput struct {
	Cluster string `json:"cluster"`
	Tree    string `json:"tree"`
	Run     string `json:"run"`
	Batches int    `json:"batches"`
}

// CommitFileSyncResult is the result of the CommitFileSync activity.
type CommitFileSyncResult struct {
	Files    int   `json:"files"`
	Bytes    int64 `json:"bytes"`
	Deleted  int   `json:"deleted"`
	Metadata int   `json:"metadata"`
	// SourceTime is the recovery point the copy now holds.
	SourceTime time.Time `json:"source_time"`
}

// DiscardFileSyncRunInput is the input of the DiscardFileSyncRun activity.
type DiscardFileSyncRunInput struct {
	Cluster string `json:"cluster"`
	Tree    string `json:"tree"`
	Run     string `json:"run"`
}

// DiscardFileSyncRunResult is the result of the DiscardFileSyncRun activity.
type DiscardFileSyncRunResult struct {
	Deleted int `json:"deleted"`
}

// VerifyFilesInput is the input of the VerifyFiles workflow.
type VerifyFilesInput struct {
	Cluster string `json:"cluster"`
	// Tree verifies only the named tree; empty verifies every copy.
	Tree string `json:"tree,omitempty"`
}

// VerifyFilesResult is the result of the VerifyFiles workflow.
type VerifyFilesResult struct {
	Trees []VerifyFileCopyResult `json:"trees"`
	// Differences counts every difference found in every tree.
	Differences int     `json:"differences"`
	Seconds     float64 `json:"seconds"`
}

// VerifyFileCopyInput is the input of the VerifyFileCopy activity.
type VerifyFileCopyInput struct {
	Cluster string `json:"cluster"`
	Tree    string `json:"tree"`
}

// VerifyFileCopyResult is the result of the VerifyFileCopy activity: every
// way the copy differs from the manifest the last sync wrote. Lists hold
// the first MaxListed paths; counts are whole.
type VerifyFileCopyResult struct {
	Tree   string `json:"tree"`
	Target string `json:"target"`
	// Synced is when the manifest compared against was written; zero when
	// the tree was never synced (every file of the copy is then extra).
	Synced time.Time `json:"synced"`
	Files  int       `json:"files"`
	Bytes  int64     `json:"bytes"`
	// Damaged files hash to something else; Missing are gone; Changed
	// have the right content with another mode, time or link target;
	// Extra are in the copy but not in the manifest.
	Damaged      []string `json:"damaged,omitempty"`
	DamagedCount int      `json:"damaged_count"`
	Missing      []string `json:"missing,omitempty"`
	MissingCount int      `json:"missing_count"`
	Changed      []string `json:"changed,omitempty"`
	ChangedCount int      `json:"changed_count"`
	Extra        []string `json:"extra,omitempty"`
	ExtraCount   int      `json:"extra_count"`
}

// Differences counts every difference of the copy.
func (r VerifyFileCopyResult) Differences() int {
	return r.DamagedCount + r.MissingCount + r.ChangedCount + r.ExtraCount
}

// FileSyncStatus is the record of a tree's last successful sync, kept
// beside its copy's manifest; the lag metric reads it.
type FileSyncStatus struct {
	Tree string `json:"tree"`
	// Workflow and Run name the sync that wrote it.
	Workflow string `json:"workflow"`
	Run      string `json:"run"`
	// SyncedAt is when the sync ended; SourceTime when it read the source,
	// the recovery point of the copy.
	SyncedAt   time.Time `json:"synced_at"`
	SourceTime time.Time `json:"source_time"`
	Files      int       `json:"files"`
	Bytes      int64     `json:"bytes"`
}

// FileBatchDone is what the copy side reports of one applied batch, for
// the commit to record: each entry as the copy now holds it (with the
// copy's own inode and change time), the objects a store copy received,
// and the files that were not written.
type FileBatchDone struct {
	Entries []FileEntry    `json:"entries,omitempty"`
	Objects []StoredObject `json:"objects,omitempty"`
	Skipped []string       `json:"skipped,omitempty"`
}

// FileSuspects are the copy files a verification found damaged, each as it
// was then: the next sync reads the ones still so, whatever the manifest
// says of them.
type FileSuspects struct {
	Found   time.Time   `json:"found"`
	Entries []FileEntry `json:"entries"`
}
