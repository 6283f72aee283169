package netns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Subnet is the suite's private subnet; it exists only inside the suite's
// namespaces.
const (
	Subnet = "10.77.0.0/24"
	CtlIP  = "10.77.0.100"
	chain  = "JEPSEN"
)

// ErrUnavailable is wrapped by Check when namespaces cannot be made here.
var ErrUnavailable = errors.New("network namespaces unavailable")

// Layout names the namespaces and addresses of one run. It is written to a
// file so the suite, re-run inside the control namespace, knows it.
type Layout struct {
	Prefix string            `json:"prefix"`
	Hub    string            `json:"hub"`
	Ctl    string            `json:"ctl"`
	NS     map[string]string `json:"ns"` // node id -> namespace
	IP     map[string]string `json:"ip"` // node id -> address
}

// Check reports whether this machine lets the suite build its network: it
// needs root, `ip` and `iptables-restore`, and a namespace it can create and
// delete.
func Check() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the suite does not run as root", ErrUnavailable)
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found (apt-get install iproute2 iptables)", ErrUnavailable, tool)
		}
	}
	name := fmt.Sprintf("bjcheck%d", os.Getpid())
	if err := run("ip", "netns", "add", name); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer run("ip", "netns", "del", name)
	if err := run("ip", "netns", "exec", name, "iptables", "-w", "-L", "-n"); err != nil {
		return fmt.Errorf("%w: iptables inside a namespace: %v", ErrUnavailable, err)
	}
	return nil
}

// Prefix returns the namespace prefix of this process's run: "bj" and the
// pid, so a later run can tell a dead run's leftovers from a live run's.
func Prefix() string { return fmt.Sprintf("bj%d", os.Getpid()) }

// Setup builds the network for nodes (at most 99) and returns its layout.
// On failure it tears down whatever it made.
func Setup(prefix string, nodes []string) (l *Layout, err error) {
	if len(nodes) > 99 {
		return nil, fmt.Errorf("netns: at most 99 nodes, got %d", len(nodes))
	}
	l = &Layout{Prefix: prefix, Hub: prefix + "-hub", Ctl: prefix + "-ctl", NS: map[string]string{}, IP: map[string]string{}}
	defer func() {
		if err != nil {
			_ = l.Teardown()
			l = nil
		}
	}()
	if err := l.hub(); err != nil {
		return l, err
	}
	if err := l.attach(l.Ctl, "vctl", CtlIP); err != nil {
		return l, err
	}
	for i, n := range nodes {
		l.NS[n], l.IP[n] = prefix+"-"+n, fmt.Sprintf("10.77.0.%d", i+1)
		if err := l.attach(l.NS[n], fmt.Sprintf("v%d", i+1), l.IP[n]); err != nil {
			return l, err
		}
		if err := l.filter(n); err != nil {
			return l, err
		}
	}
	return l, nil
}

func (l *Layout) hub() error {
	return runAll(
		[]string{"ip", "netns", "add", l.Hub},
		[]string{"ip", "-n", l.Hub, "link", "set", "lo", "up"},
		[]string{"ip", "-n", l.Hub, "link", "add", "br0", "type", "bridge"},
		[]string{"ip", "-n", l.Hub, "link", "set", "br0", "up"},
	)
}

// attach makes namespace ns with a veth pair: eth0 (address ip) inside it,
// hubSide on the hub's bridge. Both ends are created inside namespaces.
func (l *Layout) attach(ns, hubSide, ip string) error {
	return runAll(
		[]string{"ip", "netns", "add", ns},
		[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
		[]string{"ip", "-n", l.Hub, "link", "add", hubSide, "type", "veth", "peer", "name", "eth0", "netns", ns},
		[]string{"ip", "-n", l.Hub, "link", "set", hubSide, "master", "br0"},
		[]string{"ip", "-n", l.Hub, "link", "set", hubSide, "up"},
		[]string{"ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0"},
		[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
	)
}

// filter installs the suite's chain in node's namespace, jumped to from
// INPUT and OUTPUT, empty until a partition.
func (l *Layout) filter(node string) error {
	ns := l.NS[node]
	return runAll(
		[]string{"ip", "netns", "exec", ns, "iptables", "-w", "-N", chain},
		[]string{"ip", "netns", "exec", ns, "iptables", "-w", "-A", "INPUT", "-j", chain},
		[]string{"ip", "netns", "exec", ns, "iptables", "-w", "-A", "OUTPUT", "-j", chain},
	)
}

// Wrap is the command prefix that runs a program inside node's namespace.
func (l *Layout) Wrap(node string) []string { return []string{"ip", "netns", "exec", l.NS[node]} }

// Block makes every listed pair of nodes unable to reach each other, in both
// directions, and lets every other pair through: it replaces the previous
// partition. An empty list heals the network.
func (l *Layout) Block(pairs [][2]string) error {
	drops := map[string][]string{}
	for _, p := range pairs {
		a, b := p[0], p[1]
		drops[a] = append(drops[a], l.IP[b])
		drops[b] = append(drops[b], l.IP[a])
	}
	var errs []error
	for node, ns := range l.NS {
		var rules bytes.Buffer
		fmt.Fprintf(&rules, "*filter\n:%s - [0:0]\n", chain)
		peers := drops[node]
		sort.Strings(peers)
		for _, ip := range peers {
			fmt.Fprintf(&rules, "-A %s -s %s/32 -j DROP\n-A %s -d %s/32 -j DROP\n", chain, ip, chain, ip)
		}
		rules.WriteString("COMMIT\n")
		cmd := exec.Command("ip", "netns", "exec", ns, "iptables-restore", "-w", "--noflush")
		cmd.Stdin = &rules
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("iptables-restore in %s: %v: %s", ns, err, bytes.TrimSpace(out)))
		}
	}
	return errors.Join(errs...)
}

// Heal removes every partition.
func (l *Layout) Heal() error { return l.Block(nil) }

// Teardown kills every process left in the namespaces and deletes them
// (their interfaces and rules go with them). It tries every namespace even
// when one fails.
func (l *Layout) Teardown() error {
	var errs []error
	names := []string{l.Ctl, l.Hub}
	for _, ns := range l.NS {
		names = append(names, ns)
	}
	for _, ns := range names {
		if ns == "" || !exists(ns) {
			continue
		}
		killAll(ns)
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killAll sends SIGKILL to each process still running in namespace ns (a
// hook a killed agent left behind), one pid at a time.
func killAll(ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func exists(ns string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", ns))
	return err == nil
}

// CleanStale deletes the namespaces left by earlier runs of the suite that
// died without tearing down ("bj<pid>-…" whose pid no longer runs). It
// never touches a namespace of a live process or of another tool.
func CleanStale() []string {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		name := e.Name()
		pid, ok := stalePrefixPID(name)
		if !ok || syscall.Kill(pid, 0) == nil {
			continue
		}
		killAll(name)
		if run("ip", "netns", "del", name) == nil {
			removed = append(removed, name)
		}
	}
	return removed
}

func stalePrefixPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "bj")
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}

// Save writes the layout to path; Load reads it back.
func (l *Layout) Save(path string) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Load reads a layout written by Save.
func Load(path string) (*Layout, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var l Layout
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("layout %s: %w", path, err)
	}
	return &l, nil
}

func run(argv ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func runAll(cmds ...[]string) error {
	for _, c := range cmds {
		if err := run(c...); err != nil {
			return err
		}
	}
	return nil
}
