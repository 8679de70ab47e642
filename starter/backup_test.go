package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/schemas"
)

func TestProgressBar(t *testing.T) {
	tests := []struct {
		name string
		p    schemas.BackupProgress
		want string
	}{
		{"start", schemas.BackupProgress{EstimatedTotal: 2_400_000_000},
			"[..........]   0%  0 B of ~2.4 GB, 0.0 MB/s"},
		{"half", schemas.BackupProgress{BytesDone: 1_200_000_000, EstimatedTotal: 2_400_000_000, MBPerSecond: 35.14},
			"[#####.....]  50%  1.2 GB of ~2.4 GB, 35.1 MB/s"},
		{"past the estimate stays below 100 %", schemas.BackupProgress{BytesDone: 3_000_000, EstimatedTotal: 2_000_000, MBPerSecond: 1},
			"[#########.]  99%  3.0 MB of ~2.0 MB, 1.0 MB/s"},
		{"unknown total", schemas.BackupProgress{BytesDone: 12_345_678, MBPerSecond: 3.25},
			"[??????????]    ?  12.3 MB of unknown total, 3.2 MB/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := progressBar(tt.p, 10); got != tt.want {
				t.Errorf("progressBar = %q\n              want %q", got, tt.want)
			}
		})
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 45_200_000: "45.2 MB", 3_100_000_000_000: "3.1 TB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBackupFailure_GivesTheMessageAndApplicationErrorType(t *testing.T) {
	cause := temporal.NewNonRetryableApplicationError(`invalid input: kind: "files" backups are not built yet; only "database" is`, schemas.ErrInvalidInput, nil)
	err := workflowFailure("backup", "backup/dev/files/x", fmt.Errorf("workflow execution error: %w", cause))
	want := `backup backup/dev/files/x failed: InvalidInput: invalid input: kind: "files" backups are not built yet; only "database" is`
	if err.Error() != want {
		t.Errorf("error = %q\nwant %q", err, want)
	}
}

func TestPrintBackup_SummarisesTheManifest(t *testing.T) {
	var b bytes.Buffer
	printBackup(&b, "backup/dev/database/20260101T000000.000Z", schemas.BackupResult{
		Manifest: schemas.Manifest{
			ID: "20260101T000000Z-database", Cluster: "dev", Kind: "database", Source: "pg-a2", PostgresVersion: "15.8",
			StartLSN: "0/5000028", StopLSN: "0/5000138", Timeline: 1, PlainSize: 45_200_000, StoredSize: 6_100_000,
			Object: "dev/backups/20260101T000000Z-database/data.tar.zst.age",
		},
		Seconds: 12.34,
	})
	for _, want := range []string{
		"backup 20260101T000000Z-database of cluster dev: done in 12.3s",
		"workflow  backup/dev/database/20260101T000000.000Z",
		"source    pg-a2 (PostgreSQL 15.8)",
		"LSN       0/5000028 to 0/5000138, timeline 1",
		"size      45.2 MB plain, 6.1 MB stored (ratio 7.4x)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestBackupWorkflowID_NamesClusterKindAndUTCTime(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.FixedZone("CET", 3600))
	if got, want := backupWorkflowID("dev", "database", at), "backup/dev/database/20260304T040607.890Z"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
