package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/runnerhub/lifeboat/internal/deploy"
	"github.com/runnerhub/lifeboat/internal/tclient"
)

// deployCmd runs `lifeboat deploy promote|status`: Worker Versioning.
func deployCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "promote":
		return deployPromote(args[1:], stdout)
	case "status":
		return deployStatus(args[1:], stdout)
	default:
		return errUsage
	}
}

// promoteArgs is what `lifeboat deploy promote` was asked.
type promoteArgs struct {
	region, build string
	workflows     bool
	wait          time.Duration
}

func parsePromote(args []string, conn *tclient.Options) (promoteArgs, error) {
	var p promoteArgs
	fs := flag.NewFlagSet("deploy promote", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	conn.RegisterFlags(fs)
	fs.StringVar(&p.region, "region", "", "region whose workers run the build")
	fs.StringVar(&p.build, "build", "", "build ID to make current (the worker logs it as build_id; /version serves it)")
	fs.BoolVar(&p.workflows, "workflows", true, "also make it the build new workflows start on (deployment lifeboat)")
	fs.DurationVar(&p.wait, "wait", 30*time.Second, "how long to wait for the build's workers to poll")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 0 {
		return p, errUsage
	}
	if p.region == "" || p.build == "" {
		return p, fmt.Errorf("%w: --region and --build are required", errUsage)
	}
	return p, nil
}

func deployPromote(args []string, stdout io.Writer) error {
	var conn tclient.Options
	p, err := parsePromote(args, &conn)
	if err != nil {
		return err
	}
	c, ctx, done, err := session(conn, p.wait)
	if err != nil {
		return err
	}
	defer done()
	changes, err := deploy.Promote(ctx, c, p.region, p.build, p.workflows)
	for _, ch := range changes {
		printChange(stdout, ch)
	}
	return err
}

// printChange says what a promotion did to one deployment.
func printChange(w io.Writer, ch deploy.Change) {
	switch {
	case !ch.Changed():
		fmt.Fprintf(w, "%s: build %s was already current\n", ch.Deployment, ch.Current)
	case ch.Previous == "":
		fmt.Fprintf(w, "%s: build %s is current (none was)\n", ch.Deployment, ch.Current)
	default:
		fmt.Fprintf(w, "%s: build %s is current, was %s (its pinned workflows finish on it)\n", ch.Deployment, ch.Current, ch.Previous)
	}
}

func deployStatus(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("deploy status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	region := fs.String("region", "", "show the workflow deployment and this region's; default every Lifeboat deployment")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 0 {
		return errUsage
	}
	c, ctx, done, err := session(conn, 30*time.Second)
	if err != nil {
		return err
	}
	defer done()
	ds, err := deploy.Status(ctx, c, *region)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, ds)
	}
	printDeployments(stdout, ds)
	return nil
}

// printDeployments writes each deployment's builds, newest first, with the
// current one marked.
func printDeployments(w io.Writer, ds []deploy.Deployment) {
	for i, d := range ds {
		if i > 0 {
			fmt.Fprintln(w)
		}
		current := d.Current
		if current == "" {
			current = "none (tasks go to unversioned workers)"
		}
		fmt.Fprintf(w, "deployment %s: current %s\n", d.Name, current)
		if len(d.Versions) == 0 {
			fmt.Fprintln(w, "  no builds seen")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  \tBUILD\tSTATE\tFIRST SEEN")
		for _, v := range d.Versions {
			mark := ""
			if v.State == "current" {
				mark = "*"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", mark, v.BuildID, v.State, v.CreatedAt.Format(time.RFC3339))
		}
		_ = tw.Flush()
	}
}
