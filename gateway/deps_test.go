package gateway

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The gateway is a black-box client of the agents: of Baton it may import
// only the API package (rpc/api) and itself, never the server's packages
// (fsm, rpc, coordinator, node) or internal/..., tests included.
func TestGatewayImportsOnlyTheAPI(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "github.com/baton-upgrade/baton/gateway/...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	const module = "github.com/baton-upgrade/baton"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg := strings.Fields(line)[0] // "p [q.test]" for a package compiled for q's tests
		if !strings.HasPrefix(pkg, module+"/") {
			continue
		}
		rel := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(pkg, module+"/"), ".test"), "_test")
		ok := rel == "rpc/api" || rel == "gateway" || strings.HasPrefix(rel, "gateway/")
		require.True(t, ok, "the gateway depends on %s", pkg)
	}
}
