package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"go.temporal.io/sdk/log"

	"github.com/runnerhub/lifeboat/schemas"
)

// quietLogger drops the SDK's log lines; the CLI reports errors itself.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

var _ log.Logger = quietLogger{}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printCheck writes a health report as a table an operator reads at a glance.
func printCheck(w io.Writer, res schemas.CheckClusterResult) {
	state := "healthy"
	if !res.Healthy {
		state = "UNHEALTHY"
	}
	fmt.Fprintf(w, "cluster %s: %s (checked %s)\n\n", res.Cluster, state, res.CheckedAt.Format("2006-01-02 15:04:05Z07:00"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tKIND\tREGION\tROLE\tHEALTHY\tPOSITION\tLAG\tLATENCY\tDETAIL")
	for _, n := range res.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1fms\t%s\n",
			n.Name, n.Kind, n.Region, n.Role, yesNo(n.Healthy), position(n), lag(n), n.LatencyMS, detail(n))
	}
	_ = tw.Flush()
	if len(res.Problems) > 0 {
		fmt.Fprintln(w, "\nproblems:")
		for _, p := range res.Problems {
			fmt.Fprintln(w, "  -", p)
		}
	}
	if res.Level != nil {
		printLevel(w, *res.Level)
	}
}

// printLevel writes the availability level, what the next one lacks and
// the evidence for every requirement met.
func printLevel(w io.Writer, l schemas.LevelReport) {
	fmt.Fprintf(w, "\navailability level: %s", l.Level)
	if l.Next == "" {
		fmt.Fprintln(w, " (the highest)")
	} else {
		var names []string
		for _, m := range l.Missing {
			names = append(names, m.Requirement)
		}
		fmt.Fprintf(w, " — missing for %s: %s\n", l.Next, strings.Join(names, ", "))
		for _, m := range l.Missing {
			fmt.Fprintf(w, "  - %s\n", m)
		}
	}
	if len(l.Met) > 0 {
		fmt.Fprintln(w, "proven:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, m := range l.Met {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", m.Level, m.Requirement, m.Evidence)
		}
		_ = tw.Flush()
	}
	for _, e := range l.Errors {
		fmt.Fprintln(w, "could not read:", e)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func position(n schemas.NodeHealth) string {
	switch {
	case n.CurrentLSN != "":
		return n.CurrentLSN
	case n.ReplayedLSN != "":
		return n.ReplayedLSN
	case n.ReplOffset != nil:
		return fmt.Sprintf("offset %d", *n.ReplOffset)
	}
	return "-"
}

// syncDetail says whether a replica is synchronous, with the sync state its
// primary reports: "synchronous (quorum)", "asynchronous (potential)".
func syncDetail(n schemas.NodeHealth) string {
	d := "asynchronous"
	if n.Synchronous {
		d = "synchronous"
	}
	if n.SyncState != "" {
		d += " (" + n.SyncState + ")"
	}
	return d
}

func lag(n schemas.NodeHealth) string {
	var parts []string
	if n.LagBytes != nil {
		parts = append(parts, fmt.Sprintf("%d B", *n.LagBytes))
	}
	if n.LagSeconds != nil {
		parts = append(parts, fmt.Sprintf("%.1fs", *n.LagSeconds))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func detail(n schemas.NodeHealth) string {
	var d []string
	switch n.Kind {
	case schemas.KindPostgres:
		if n.Timeline > 0 {
			d = append(d, fmt.Sprintf("timeline %d", n.Timeline))
		}
		if n.Role == schemas.RolePrimary {
			d = append(d, fmt.Sprintf("%d standbys", len(n.Standbys)))
		}
		if n.Role == schemas.RoleReplica {
			d = append(d, syncDetail(n))
			if n.Streaming {
				d = append(d, "streaming from "+n.Upstream)
			}
		}
	case schemas.KindRedis:
		d = append(d, n.Addr)
		if n.Role == schemas.RoleReplica {
			d = append(d, "of "+n.MasterAddr)
		}
	case schemas.KindSentinel:
		if n.SentinelMaster != "" {
			agree := "agrees"
			if !n.Agrees {
				agree = "DISAGREES"
			}
			d = append(d, fmt.Sprintf("master %s (%s), sees %d other sentinels", n.SentinelMaster, agree, n.OtherSentinels))
		}
	case schemas.KindStore:
		if n.Bucket != "" {
			d = append(d, "bucket "+n.Bucket)
		}
	}
	if n.Error != "" {
		d = append(d, "error: "+n.Error)
	}
	return strings.Join(d, ", ")
}
