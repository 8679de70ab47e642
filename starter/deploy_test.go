package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/internal/deploy"
	"github.com/runnerhub/lifeboat/internal/tclient"
)

func TestParsePromote_NeedsRegionAndBuild(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    promoteArgs
		wantErr bool
	}{
		{args: []string{"--region", "region-a", "--build", "v1.2.0"}, want: promoteArgs{region: "region-a", build: "v1.2.0", workflows: true, wait: 30 * time.Second}},
		{args: []string{"--region", "region-b", "--build", "dev-0123456789ab", "--workflows=false", "--wait", "5s"}, want: promoteArgs{region: "region-b", build: "dev-0123456789ab", wait: 5 * time.Second}},
		{args: []string{"--build", "v1.2.0"}, wantErr: true},
		{args: []string{"--region", "region-a"}, wantErr: true},
		{args: []string{"--region", "region-a", "--build", "v1", "extra"}, wantErr: true},
	} {
		var conn tclient.Options
		got, err := parsePromote(tc.args, &conn)
		if tc.wantErr {
			if !errors.Is(err, errUsage) {
				t.Errorf("parsePromote(%q): err %v, want a usage error", tc.args, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parsePromote(%q) = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

func TestDeployCmd_UnknownSubcommandIsUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"rollback"}} {
		if err := deployCmd(args, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("deploy %q: err %v, want usage", args, err)
		}
	}
}

func TestPrintChange_SaysWhatMoved(t *testing.T) {
	for _, tc := range []struct {
		ch   deploy.Change
		want string
	}{
		{deploy.Change{Deployment: "lifeboat", Previous: "v1", Current: "v2"}, "lifeboat: build v2 is current, was v1 (its pinned workflows finish on it)\n"},
		{deploy.Change{Deployment: "lifeboat-region-a", Current: "v2"}, "lifeboat-region-a: build v2 is current (none was)\n"},
		{deploy.Change{Deployment: "lifeboat", Previous: "v2", Current: "v2"}, "lifeboat: build v2 was already current\n"},
	} {
		var b bytes.Buffer
		printChange(&b, tc.ch)
		if got := b.String(); got != tc.want {
			t.Errorf("printChange(%+v) = %q, want %q", tc.ch, got, tc.want)
		}
	}
}

func TestPrintDeployments_MarksTheCurrentBuild(t *testing.T) {
	at := time.Date(2026, 11, 29, 5, 26, 43, 0, time.UTC)
	var b bytes.Buffer
	printDeployments(&b, []deploy.Deployment{
		{Name: "lifeboat", Current: "v2", Versions: []deploy.Version{
			{BuildID: "v2", CreatedAt: at, State: "current"},
			{BuildID: "v1", CreatedAt: at.Add(-time.Hour), State: "draining"},
		}},
		{Name: "lifeboat-region-c", Versions: []deploy.Version{}},
	})
	got := b.String()
	for _, want := range []string{
		"deployment lifeboat: current v2\n",
		"*  v2     current   2026-11-29T05:26:43Z",
		"   v1     draining  2026-11-29T04:26:43Z",
		"deployment lifeboat-region-c: current none (tasks go to unversioned workers)\n  no builds seen\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
