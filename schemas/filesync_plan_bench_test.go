package schemas

import (
	"fmt"
	"testing"
)

// BenchmarkPlanFileSync plans a 1 % change of a tree of 20,000 files in
// 100 directories, the shape of make bench-filesync.
func BenchmarkPlanFileSync(b *testing.B) {
	var src, cp FileManifest
	for d := range 100 {
		src.Entries = append(src.Entries, FileEntry{Path: fmt.Sprintf("d%03d", d), Type: EntryDir, Mode: 0o755})
		for i := range 200 {
			e := FileEntry{Path: fmt.Sprintf("d%03d/file-%05d.dat", d, i), Type: EntryFile, Size: 100000, Mode: 0o644, MTime: 12345, SHA256: fmt.Sprintf("%064x", d*1000+i)}
			src.Entries = append(src.Entries, e)
			if i%100 == 0 {
				e.SHA256 = fmt.Sprintf("%064x", d*1000+i+7777777)
			}
			cp.Entries = append(cp.Entries, e)
		}
	}
	cp.Entries = append(cp.Entries[:0:0], cp.Entries...)
	SortEntries(src.Entries)
	SortEntries(cp.Entries)
	for b.Loop() {
		PlanFileSync(src, cp, PlanOptions{AllowDeletes: true})
	}
}
