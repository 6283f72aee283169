package procs

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// LookTool returns the path of command cmd, which Debian's package pkg
// installs. Without it the test skips, naming both; but where .ci/run has
// installed the test's packages (CI is set) and pkg is not among those it
// could not install (BATON_UNINSTALLABLE), a missing command fails the test:
// a skip there would prove nothing.
func LookTool(t testing.TB, cmd, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(cmd)
	if err == nil {
		return path
	}
	uninstallable := strings.Fields(os.Getenv("BATON_UNINSTALLABLE"))
	if UnderCI() && !slices.Contains(uninstallable, pkg) {
		t.Fatalf("%s is missing although .ci/run installed Debian's %s", cmd, pkg)
	}
	t.Skipf("%s not found: install Debian's %s package (.ci/run does)", cmd, pkg)
	return ""
}

// UnderCI reports whether the tests run under .ci/run (BATON_CI) or another
// CI system (CI), where the machine has what the tests need and a skip for
// want of it would prove nothing.
func UnderCI() bool { return os.Getenv("BATON_CI") != "" || os.Getenv("CI") != "" }
