package hooks

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// groupPollInterval is how often a terminated hook's process group is
// checked for members still running.
const groupPollInterval = 20 * time.Millisecond

// signalGroup sends sig to the process group pgid. ESRCH (already gone) is
// expected and ignored; nothing else can usefully be done about other
// errors here.
func signalGroup(pgid int, sig syscall.Signal) {
	if pgid > 0 {
		_ = syscall.Kill(-pgid, sig)
	}
}

// groupAlive reports whether any process of group pgid still runs. Zombies
// do not count: they have exited, and without an init that reaps orphans
// they may linger. Without /proc it trusts kill(-pgid, 0), zombies
// included.
func groupAlive(pgid int) bool {
	if pgid <= 0 || syscall.Kill(-pgid, 0) != nil {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, group, ok := procGroup(pid)
		if ok && group == pgid && state != "Z" && state != "X" {
			return true
		}
	}
	return false
}

// procGroup reads a process's state and process group from Linux's /proc.
func procGroup(pid int) (state string, pgid int, ok bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after its closing parenthesis start at field 3 (state), and
	// field 5 is the process group.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 3 {
		return "", 0, false
	}
	pgid, err = strconv.Atoi(fields[2])
	return fields[0], pgid, err == nil
}

// TerminateGroup stops process group pgid as Run stops a hook through
// Spec.Terminate: SIGTERM, then SIGKILL to whatever of it still runs once
// grace has passed (DefaultTerminateGrace when zero). It returns when
// nothing of the group runs, and reports whether SIGKILL was needed. It is
// for a hook this process did not start (one a previous agent process left
// running); Run stops its own.
func TerminateGroup(pgid int, grace time.Duration) (killed bool) {
	if grace <= 0 {
		grace = DefaultTerminateGrace
	}
	signalGroup(pgid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			signalGroup(pgid, syscall.SIGKILL)
			for end := time.Now().Add(time.Second); groupAlive(pgid) && time.Now().Before(end); {
				time.Sleep(groupPollInterval)
			}
			return true
		}
		time.Sleep(groupPollInterval)
	}
	return false
}
