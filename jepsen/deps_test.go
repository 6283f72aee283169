package jepsen

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The chaos suite is a black-box client: of Baton it may import only the
// API package (rpc/api) and its own packages, never the server's (fsm,
// rpc, coordinator, node) or internal/..., tests included.
func TestSuiteImportsOnlyTheAPI(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "github.com/baton-upgrade/baton/jepsen/...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	const module = "github.com/baton-upgrade/baton"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg := strings.Fields(line)[0] // "p [q.test]" for a package compiled for q's tests
		if !strings.HasPrefix(pkg, module+"/") {
			continue
		}
		rel := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(pkg, module+"/"), ".test"), "_test")
		ok := rel == "rpc/api" || rel == "jepsen" || strings.HasPrefix(rel, "jepsen/")
		require.True(t, ok, "the chaos suite depends on %s", pkg)
	}
}
