package api

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The API package imports nothing of Baton's, so that a client importing it
// never drags in the server.
func TestAPIImportsNothingOfBatons(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/baton-upgrade/baton/rpc/api").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/baton-upgrade/baton") {
			require.Equal(t, "github.com/baton-upgrade/baton/rpc/api", pkg)
		}
	}
}
