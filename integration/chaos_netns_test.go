package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A network namespace of the partition scenario: a host of its own on this
// machine, joined to the others by veth pairs.

// netnsCmd runs a command, in namespace ns when ns is not empty.
func netnsCmd(t *testing.T, ns string, args ...string) string {
	t.Helper()
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// requireNetns fails the test unless this process may make network
// namespaces with iproute2.
func requireNetns(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("the partition scenario needs iproute2's ip (apt-get install iproute2) and root")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the partition scenario makes network namespaces: run it as root")
	}
}

// addNetns makes namespace ns with its loopback up, deleted at the end.
func addNetns(t *testing.T, ns string) {
	t.Helper()
	_ = exec.Command("ip", "netns", "del", ns).Run() // a former run's
	netnsCmd(t, "", "ip", "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	netnsCmd(t, ns, "ip", "link", "set", "lo", "up")
}

// link joins two namespaces ("" is this process's) with a veth pair:
// interface aName with address aAddr (CIDR) on side a, bName and bAddr on
// side b.
func link(t *testing.T, a, aName, aAddr, b, bName, bAddr string) {
	t.Helper()
	_ = exec.Command("ip", "link", "del", aName).Run() // a former run's
	netnsCmd(t, "", "ip", "link", "add", aName, "type", "veth", "peer", "name", bName)
	for _, side := range []struct{ ns, name, addr string }{{a, aName, aAddr}, {b, bName, bAddr}} {
		if side.ns != "" {
			netnsCmd(t, "", "ip", "link", "set", side.name, "netns", side.ns)
		}
		netnsCmd(t, side.ns, "ip", "addr", "add", side.addr, "dev", side.name)
		netnsCmd(t, side.ns, "ip", "link", "set", side.name, "up")
	}
	if a == "" {
		t.Cleanup(func() { _ = exec.Command("ip", "link", "del", aName).Run() })
	}
}

// dialIn returns a dialer whose sockets are made in namespace ns: the
// dial runs on an OS thread moved into ns, which is thrown away after.
func dialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		done := make(chan result, 1)
		go func() {
			// Never unlocked: the goroutine's end ends the thread, so no
			// other goroutine runs in ns.
			runtime.LockOSThread()
			f, err := os.Open(filepath.Join("/var/run/netns", ns))
			if err != nil {
				done <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				done <- result{nil, fmt.Errorf("enter network namespace %s: %w", ns, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			done <- result{c, err}
		}()
		r := <-done
		return r.c, r.err
	}
}
