package drillreport

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

func sample(passed bool) schemas.DrillReport {
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	r := schemas.DrillReport{
		FormatVersion: schemas.DrillReportFormat, ID: "20261129T100000Z-full", Cluster: "dev", Kind: schemas.DrillFull,
		Region: "region-b", StartedAt: start, EndedAt: start.Add(40 * time.Second), Passed: passed,
		TargetRTOSeconds: 60, TargetRPOSeconds: 300,
		Restore: &schemas.DrillRestoreResult{BackupID: "20261129T095000Z-database", RTOSeconds: 14.2, RPOSeconds: 31.5,
			Heartbeat: start.Add(-31500 * time.Millisecond), RecoveredLSN: "0/5000060",
			Tables: []schemas.TableCheck{{Table: "demo.orders", Rows: 10000, Checksum: "-991809674"}}},
		Failover: &schemas.DrillFailoverResult{RTOSeconds: 75, FailoverSeconds: 3.1, Promoted: "drill-replica", Epoch: 2, WorkflowID: "failover/dev-drill/2"},
		Steps: []schemas.TimedStep{
			{Name: "restore newest backup", StartSeconds: 0.4, Seconds: 13.3},
			{Name: "verify data and heartbeat", StartSeconds: 13.7, Seconds: 0.5},
			{Name: "fail over the scratch set", StartSeconds: 14.2, Seconds: 24, Failed: !passed},
			{Name: "clean up", StartSeconds: 38.2, Seconds: 1.8},
		},
		Keys: schemas.DrillReportKeys("dev", "20261129T100000Z-full"),
	}
	if !passed {
		r.Failures = []string{"failover RTO 75.0s is over the target 60.0s"}
	}
	return r
}

func TestMarkdownSaysWhatWasMeasured(t *testing.T) {
	md := Markdown(sample(false))
	for _, want := range []string{
		"# Drill 20261129T100000Z-full: FAILED",
		"| RTO | 14.2s | 60.0s | yes |",
		"| RPO | 31.5s | 300.0s | yes |",
		"| RTO | 75.0s | 60.0s | **no** |",
		"| demo.orders | 10000 | -991809674 |",
		"| fail over the scratch set (failed) | +14.2s | 24.0s |",
		"- failover RTO 75.0s is over the target 60.0s",
		"dev/drills/20261129T100000Z-full/timeline.svg",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// TestSVGIsWellFormedWithTargets parses the picture as XML and looks for a
// bar per step, the target lines and the verdict. The picture is kept in
// .dev/ for a look when LIFEBOAT_KEEP_SVG is set.
func TestSVGIsWellFormedWithTargets(t *testing.T) {
	for _, passed := range []bool{true, false} {
		svg := SVG(sample(passed))
		dec := xml.NewDecoder(bytes.NewReader(svg))
		rects, dashed := 0, 0
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("SVG does not parse: %v\n%s", err, svg)
			}
			if se, ok := tok.(xml.StartElement); ok {
				for _, a := range se.Attr {
					if se.Name.Local == "line" && a.Name.Local == "stroke-dasharray" {
						dashed++
					}
				}
				if se.Name.Local == "rect" {
					rects++
				}
			}
		}
		// Background, four steps, three achieved bars.
		if rects != 1+4+3 {
			t.Errorf("passed=%v: %d rects, want 8", passed, rects)
		}
		// The RTO target on the timeline (60s is near a 40s drill) and one
		// line per achieved measure.
		if dashed != 1+3 {
			t.Errorf("passed=%v: %d target lines, want 4", passed, dashed)
		}
		verdict := "passed"
		if !passed {
			verdict = "FAILED"
		}
		if !bytes.Contains(svg, []byte(verdict)) || !bytes.Contains(svg, []byte("RTO target 60.0s")) {
			t.Errorf("passed=%v: verdict or target label missing", passed)
		}
		if dir := os.Getenv("LIFEBOAT_KEEP_SVG"); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, verdict+".svg"), svg, 0o644)
		}
	}
}
