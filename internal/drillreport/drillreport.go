// Package drillreport renders a disaster-recovery drill's report for
// people: Markdown for reading, and an SVG timeline of the drill's steps
// with the RTO and RPO targets drawn as lines.
package drillreport

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strings"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

// Markdown renders r as a Markdown document.
func Markdown(r schemas.DrillReport) string {
	var b strings.Builder
	verdict := "PASSED"
	if !r.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "# Drill %s: %s\n\n", r.ID, verdict)
	fmt.Fprintf(&b, "- Cluster: %s, kind: %s, region: %s\n", r.Cluster, r.Kind, r.Region)
	fmt.Fprintf(&b, "- Started %s, ended %s (%s)\n", r.StartedAt.UTC().Format(time.RFC3339), r.EndedAt.UTC().Format(time.RFC3339),
		seconds(r.EndedAt.Sub(r.StartedAt).Seconds()))
	fmt.Fprintf(&b, "- Targets: RTO %s, RPO %s\n", seconds(r.TargetRTOSeconds), seconds(r.TargetRPOSeconds))
	if rs := r.Restore; rs != nil {
		fmt.Fprintf(&b, "\n## Restore\n\n")
		fmt.Fprintf(&b, "| measure | achieved | target | met |\n|---|---|---|---|\n")
		fmt.Fprintf(&b, "| RTO | %s | %s | %s |\n", seconds(rs.RTOSeconds), seconds(r.TargetRTOSeconds), yes(rs.RTOSeconds <= r.TargetRTOSeconds))
		fmt.Fprintf(&b, "| RPO | %s | %s | %s |\n", seconds(rs.RPOSeconds), seconds(r.TargetRPOSeconds), yes(rs.RPOSeconds <= r.TargetRPOSeconds))
		fmt.Fprintf(&b, "\nBackup %s, recovered to LSN %s; newest heartbeat %s.\n", rs.BackupID, rs.RecoveredLSN, rs.Heartbeat.UTC().Format(time.RFC3339Nano))
		if len(rs.Tables) > 0 {
			fmt.Fprintf(&b, "\n| table | rows | checksum |\n|---|---:|---|\n")
			for _, t := range rs.Tables {
				fmt.Fprintf(&b, "| %s | %d | %s |\n", t.Table, t.Rows, t.Checksum)
			}
		}
	}
	if f := r.Failover; f != nil {
		fmt.Fprintf(&b, "\n## Failover\n\n")
		fmt.Fprintf(&b, "| measure | achieved | target | met |\n|---|---|---|---|\n")
		fmt.Fprintf(&b, "| RTO | %s | %s | %s |\n", seconds(f.RTOSeconds), seconds(r.TargetRTOSeconds), yes(f.RTOSeconds <= r.TargetRTOSeconds))
		fmt.Fprintf(&b, "\nThe Failover workflow %s promoted %s at epoch %d in %s.\n", f.WorkflowID, f.Promoted, f.Epoch, seconds(f.FailoverSeconds))
	}
	fmt.Fprintf(&b, "\n## Steps\n\n| step | start | duration |\n|---|---:|---:|\n")
	for _, s := range r.Steps {
		name := s.Name
		if s.Failed {
			name += " (failed)"
		}
		fmt.Fprintf(&b, "| %s | +%s | %s |\n", name, seconds(s.StartSeconds), seconds(s.Seconds))
	}
	if len(r.Failures) > 0 {
		fmt.Fprintf(&b, "\n## Why it failed\n\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	if r.Keys.SVG != "" {
		fmt.Fprintf(&b, "\nTimeline: `%s`\n", r.Keys.SVG)
	}
	return b.String()
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func seconds(s float64) string { return fmt.Sprintf("%.1fs", s) }

// Layout of the timeline picture.
const (
	width     = 900
	left      = 230 // the steps' names
	right     = 30
	rowHeight = 26
	top       = 50
	barHeight = 16
)

// SVG renders r's steps as a timeline, one bar per step on a time axis,
// with the RTO target drawn as a line where it falls; below it, each
// achieved RTO and RPO as a bar against its target's line, on a scale of
// its own, since a target is often far beyond a drill's few seconds.
func SVG(r schemas.DrillReport) []byte {
	total := r.EndedAt.Sub(r.StartedAt).Seconds()
	for _, s := range r.Steps {
		total = math.Max(total, s.StartSeconds+s.Seconds)
	}
	span := math.Max(total, 1)
	showRTO := r.TargetRTOSeconds > 0 && r.TargetRTOSeconds <= 4*span
	if showRTO {
		span = math.Max(span, r.TargetRTOSeconds*1.05)
	}
	scale := float64(width-left-right) / span
	x := func(t float64) float64 { return left + t*scale }
	measures := achievedMeasures(r)
	axisY := top + rowHeight*len(r.Steps) + 6
	budgetTop := axisY + 50
	height := budgetTop + rowHeight*len(measures) + 20

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	verdict, color := "passed", "#2e7d32"
	if !r.Passed {
		verdict, color = "FAILED", "#c62828"
	}
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="bold">Drill %s (%s, %s): <tspan fill="%s">%s</tspan></text>`+"\n",
		esc(r.ID), esc(r.Cluster), esc(r.Kind), color, verdict)
	fmt.Fprintf(&b, `<text x="10" y="40" fill="#555">%s</text>`+"\n", esc(achieved(r)))
	for i, s := range r.Steps {
		y := top + i*rowHeight
		fill := "#1976d2"
		if s.Failed {
			fill = "#c62828"
		}
		w := math.Max(s.Seconds*scale, 1.5)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barHeight-3, esc(s.Name))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %.1fs</title></rect>`+"\n",
			x(s.StartSeconds), y, w, barHeight, fill, esc(s.Name), s.Seconds)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#333">%.1fs</text>`+"\n", x(s.StartSeconds)+w+4, y+barHeight-3, s.Seconds)
	}
	axis(&b, x, 0, span, axisY)
	if showRTO {
		targetLine(&b, x(r.TargetRTOSeconds), top-6, axisY, fmt.Sprintf("RTO target %s", seconds(r.TargetRTOSeconds)), axisY+32)
	}

	fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">Achieved against targets</text>`+"\n", budgetTop-12)
	for i, m := range measures {
		y := budgetTop + i*rowHeight
		full := math.Max(m.target, m.achieved) * 1.1
		if full <= 0 {
			continue
		}
		mscale := float64(width-left-right-120) / full
		fill := "#2e7d32"
		if m.achieved > m.target {
			fill = "#c62828"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barHeight-3, esc(m.name))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, math.Max(m.achieved*mscale, 1.5), barHeight, fill)
		tx := float64(left) + m.target*mscale
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e65100" stroke-width="2" stroke-dasharray="6 4"/>`+"\n", tx, y-3, tx, y+barHeight+3)
		labelX := math.Max(tx, float64(left)+m.achieved*mscale) + 6
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#333">%s of %s target</text>`+"\n", labelX, y+barHeight-3, seconds(m.achieved), seconds(m.target))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// measure is one achieved figure and its target.
type measure struct {
	name             string
	achieved, target float64
}

func achievedMeasures(r schemas.DrillReport) []measure {
	var ms []measure
	if rs := r.Restore; rs != nil {
		ms = append(ms, measure{"restore RTO", rs.RTOSeconds, r.TargetRTOSeconds}, measure{"RPO", rs.RPOSeconds, r.TargetRPOSeconds})
	}
	if f := r.Failover; f != nil {
		ms = append(ms, measure{"failover RTO", f.RTOSeconds, r.TargetRTOSeconds})
	}
	return ms
}

// axis draws a time axis from 0 to span at y.
func axis(b *bytes.Buffer, x func(float64) float64, from, span float64, y int) {
	fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>`+"\n", x(from), y, x(span), y)
	for _, t := range ticks(from, span) {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/><text x="%.1f" y="%d" text-anchor="middle" fill="#555">%gs</text>`+"\n",
			x(t), y, x(t), y+4, x(t), y+17, t)
	}
}

// targetLine draws a target as a dashed vertical line with its label.
func targetLine(b *bytes.Buffer, at float64, y1, y2 int, label string, labelY int) {
	fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e65100" stroke-width="2" stroke-dasharray="6 4"/>`+"\n", at, y1, at, y2)
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#e65100">%s</text>`+"\n", at, labelY, esc(label))
}

// achieved sums up what the drill measured, in one line.
func achieved(r schemas.DrillReport) string {
	var parts []string
	if rs := r.Restore; rs != nil {
		parts = append(parts, fmt.Sprintf("restore RTO %s, RPO %s", seconds(rs.RTOSeconds), seconds(rs.RPOSeconds)))
	}
	if f := r.Failover; f != nil {
		parts = append(parts, fmt.Sprintf("failover RTO %s", seconds(f.RTOSeconds)))
	}
	parts = append(parts, fmt.Sprintf("targets RTO %s, RPO %s", seconds(r.TargetRTOSeconds), seconds(r.TargetRPOSeconds)))
	return strings.Join(parts, "; ")
}

// ticks returns round values between from and to for the axis.
func ticks(from, to float64) []float64 {
	step := 1.0
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600} {
		step = s
		if (to-from)/s <= 10 {
			break
		}
	}
	var ts []float64
	for t := math.Ceil(from/step) * step; t <= to; t += step {
		ts = append(ts, t)
	}
	return ts
}

func esc(s string) string { return html.EscapeString(s) }
