package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/runnerhub/lifeboat/schemas"
)

func TestPrintFileSync_SaysWhatEachTreeDid(t *testing.T) {
	var out bytes.Buffer
	printFileSync(&out, "filesync/dev", schemas.FileSyncResult{Seconds: 2.34, Trees: []schemas.FileSyncTreeResult{{
		Tree: "uploads", Target: "region-b:/srv/copy", Files: 20000, Bytes: 2e9, Hashed: 200,
		Copied: 198, CopiedBytes: 20e6, SentBytes: 8e6, Batches: 1, Local: 2, Deleted: 3, Kept: 0, Metadata: 1,
		Damaged: []string{"a/b.txt"}, Resumed: 4, Skipped: []string{"busy.log: changed while it was sent"},
		SourceTime: time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC), Seconds: 2.3,
	}}})
	for _, want := range []string{
		"file sync done in 2.3s (workflow filesync/dev)",
		"uploads → region-b:/srv/copy, 2.3s",
		"source     20000 files, 2.0 GB; 200 read and hashed",
		"copied     198 files, 20.0 MB, 8.0 MB sent compressed and encrypted, in 1 batches",
		"at copy    2 made from content it held (renames), 3 deleted, 0 kept, 1 metadata only",
		"repaired   a/b.txt",
		"resumed    4 files",
		"skipped    busy.log: changed while it was sent",
		"recovery point 2026-11-29T07:00:00Z",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	printFileSync(&out, "backup/dev/filesync-x", schemas.FileSyncResult{Skipped: "a sync of cluster dev was running as filesync/dev"})
	if got := out.String(); got != "file sync skipped: a sync of cluster dev was running as filesync/dev\n" {
		t.Errorf("skipped run printed %q", got)
	}
}

func TestPrintVerify_ListsEveryDifference(t *testing.T) {
	var out bytes.Buffer
	printVerify(&out, "dev", schemas.VerifyFilesResult{Differences: 4, Trees: []schemas.VerifyFileCopyResult{{
		Tree: "uploads", Target: "region-b:/srv/copy", Files: 3, Bytes: 1000,
		Damaged: []string{"a"}, DamagedCount: 2, Missing: []string{"b"}, MissingCount: 1, Extra: []string{"c"}, ExtraCount: 1,
	}}})
	for _, want := range []string{"never synced", "damaged  a\n", "damaged  … and 1 more", "missing  b\n", "extra    c\n", "4 differences", "lifeboat files sync dev"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSyncProgress_RendersAHeartbeat(t *testing.T) {
	dc := converter.GetDefaultDataConverter()
	p, err := dc.ToPayloads(schemas.FileSyncProgress{Tree: "uploads", Phase: schemas.PhaseApply, Batch: 2, Done: 10, Total: 40, Bytes: 5e6})
	if err != nil {
		t.Fatal(err)
	}
	line, ok := syncProgress(dc, p)
	if !ok || line != "uploads apply: 10 of 40 files, 5.0 MB (batch 2)" {
		t.Errorf("progress line %q, %v", line, ok)
	}
	other, _ := dc.ToPayloads(schemas.BackupProgress{BytesDone: 1})
	if _, ok := syncProgress(dc, other); ok {
		t.Error("a backup's heartbeat was taken for a sync's")
	}
}

func TestFiles_RefusesBadArguments(t *testing.T) {
	for _, args := range [][]string{{}, {"sync"}, {"verify"}, {"copy", "dev"}} {
		if err := run(append([]string{"files"}, args...), &bytes.Buffer{}, &bytes.Buffer{}); err != errUsage {
			t.Errorf("files %v: %v, want the usage", args, err)
		}
	}
	if err := run([]string{"files", "sync", "Bad_Name"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "cluster name") {
		t.Errorf("a bad cluster name: %v", err)
	}
}
