package policy

import (
	"fmt"
	"github.com/runnerhub/lifeboat/schemas"
	"testing"
)

// BenchmarkPlanFileSync plans a 1 % change of a tree of 20,000 files in
// 100 directories, the shape of make bench-filesync.
func BenchmarkPlanFileSync(b *testing.B) {
	var src, cp schemas.FileManifest
	for d := range 100 {
		src.Entries = append(src.Entries, schemas.FileEntry{Path: fmt.Sprintf("d%03d", d), Type: schemas.EntryDir, Mode: 0o755})
		for i := range 200 {
			e := schemas.FileEntry{Path: fmt.Sprintf("d%03d/file-%05d.dat", d, i), Type: schemas.EntryFile, Size: 100000, Mode: 0o644, MTime: 12345, SHA256: fmt.Sprintf("%064x", d*1000+i)}
			src.Entries = append(src.Entries, e)
			if i%100 == 0 {
				e.SHA256 = fmt.Sprintf("%064x", d*1000+i+7777777)
			}
			cp.Entries = append(cp.Entries, e)
		}
	}
	cp.Entries = append(cp.Entries[:0:0], cp.Entries...)
	schemas.SortEntries(src.Entries)
	schemas.SortEntries(cp.Entries)
	for b.Loop() {
		PlanFileSync(src, cp, schemas.PlanOptions{AllowDeletes: true})
	}
}
