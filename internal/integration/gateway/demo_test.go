package gateway

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGatewayDemo runs `make demo-gateway`'s script on the test builds:
// five toy services behind `baton gateway`, a ring upgrade under a client
// load with no failed request, then a by-id upgrade through a plain proxy
// whose failures show. The script itself fails when a request failed
// through Baton's gateway.
func TestGatewayDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the gateway demo takes about 40 s; -short skips it")
	}
	bin := t.TempDir()
	require.NoError(t, os.Symlink(batonBin, filepath.Join(bin, "baton")))
	require.NoError(t, os.Symlink(demosvcBin, filepath.Join(bin, "demosvc")))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	demo := exec.CommandContext(ctx, "../../../scripts/demo-gateway.sh", bin)
	demo.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	demo.WaitDelay = 10 * time.Second
	out, err := demo.CombinedOutput()
	require.NoError(t, err, "demo-gateway failed:\n%s", out)
	m := regexp.MustCompile(`RESULT gateway_failed=(\d+) baseline_failed=(\d+)`).FindSubmatch(out)
	require.NotNil(t, m, "no RESULT line:\n%s", out)
	require.Equal(t, "0", string(m[1]), "%s", out)
	baseline, _ := strconv.Atoi(string(m[2]))
	require.Positive(t, baseline, "the baseline's restarts failed no request: the demo shows no difference\n%s", out)
	require.Contains(t, string(out), "strategy      ring")
}
