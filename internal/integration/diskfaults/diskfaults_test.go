package diskfaults

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/lazyfs"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

var batonBin string

func TestMain(m *testing.M) {
	procs.RunTests(m, "baton-diskfaults-", func(dir string) (err error) {
		batonBin, err = procs.Build(dir, procs.BuildOptions{Version: "1.0.0", ProtocolMin: fsm.LatestProtocol - 1, ProtocolMax: fsm.LatestProtocol})
		return err
	})
}

// lazyAgent is a one-node cluster whose data dir is a lazy file system.
func lazyAgent(t *testing.T) (*procs.Agent, *lazyfs.FS) {
	t.Helper()
	lazyfs.NeedFUSE(t)
	c := procs.NewCluster(t, batonBin)
	a := c.Add("n1")
	disk, err := lazyfs.New(filepath.Join(c.Root, "n1.disk"), a.DataDir)
	require.NoError(t, err)
	require.NoError(t, disk.Mount())
	t.Cleanup(func() {
		a.Kill()
		_ = disk.Unmount()
	})
	a.Start("--bootstrap")
	c.WaitMembers(a, 1, 30*time.Second)
	return a, disk
}

// TestPowerLossAfterFirstStartKeepsTheStores: a power cut right after an
// agent first ran must not take its stores' names away while anything else
// of its data dir stays. Before the agent fsynced its data dir, the creates
// of raft.db, journal.db and the identity marker were all pending, and the
// agent came back blank (term, vote and log forgotten).
func TestPowerLossAfterFirstStartKeepsTheStores(t *testing.T) {
	a, disk := lazyAgent(t)
	a.Kill()
	loss, err := disk.PowerLoss(nil)
	require.NoError(t, err)
	t.Logf("power loss: %s", loss)
	for _, name := range []string{"raft.db", "journal.db", "baton-identity.json"} {
		_, err := os.Stat(filepath.Join(a.DataDir, name))
		require.NoError(t, err, "%s after the power loss", name)
	}
	a.Restart()
	require.Eventually(t, func() bool {
		h, err := a.Client().Health(context.Background())
		return err == nil && h.RaftState == "Leader"
	}, 30*time.Second, 100*time.Millisecond, "the agent leads its one-node cluster again")
}

// TestPowerLossKeepsThePeersFileReadable: a power cut after the peers file
// was replaced, once anything synced the data dir, must leave a file that
// parses. The file was renamed into place without an fsync of its data:
// the name reached the disk, the content did not (zeros, or nothing).
func TestPowerLossKeepsThePeersFileReadable(t *testing.T) {
	a, disk := lazyAgent(t)
	peers := filepath.Join(a.DataDir, "peers.json")
	require.Eventually(t, func() bool { _, err := os.Stat(peers); return err == nil }, 30*time.Second, 100*time.Millisecond)
	syncDir(t, a.DataDir) // any later fsync of the data dir does this
	a.Kill()
	_, err := disk.PowerLoss(nil)
	require.NoError(t, err)
	b, err := os.ReadFile(peers)
	require.NoError(t, err)
	var pf map[string]any
	require.NoError(t, json.Unmarshal(b, &pf), "peers.json after the power loss: %q", b)
}

// TestFailedFsyncStopsTheAgent: when fsync fails, the agent stops at once
// with a line that says what failed and what to do; the write whose fsync
// failed is not acknowledged. Once the disk works again it starts and
// serves.
func TestFailedFsyncStopsTheAgent(t *testing.T) {
	a, disk := lazyAgent(t)
	disk.SetFsyncFail(true)
	requireStopsOnWrite(t, a, "input/output error")
	disk.SetFsyncFail(false)
	requireStartsAgain(t, a)
}

// TestFullDiskStopsTheAgent: the same for a disk that fills up.
func TestFullDiskStopsTheAgent(t *testing.T) {
	a, disk := lazyAgent(t)
	disk.SetFull(true)
	requireStopsOnWrite(t, a, "no space left on device")
	disk.SetFull(false)
	requireStartsAgain(t, a)
}

// requireStopsOnWrite makes the agent write its log (a consistent read is
// a Raft barrier, an entry of its own) and expects it to refuse and stop.
func requireStopsOnWrite(t *testing.T, a *procs.Agent, cause string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ms []api.Member
	_, err := a.Client().Do(ctx, http.MethodGet, "/v1/members", url.Values{"consistent": {"true"}}, nil, &ms)
	require.Error(t, err, "a read whose barrier could not be stored is not answered")
	code, err := a.WaitExit(20 * time.Second)
	require.NoError(t, err, "the agent stops")
	require.Equal(t, 1, code)
	tail := procs.Tail(a.LogPath, 20)
	require.Contains(t, tail, "store failed; stopping")
	require.Contains(t, tail, cause)
	require.Contains(t, tail, "Free space on (or repair) the disk")
}

func requireStartsAgain(t *testing.T, a *procs.Agent) {
	t.Helper()
	a.Restart()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var ms []api.Member
		_, err := a.Client().Do(ctx, http.MethodGet, "/v1/members", url.Values{"consistent": {"true"}}, nil, &ms)
		return err == nil
	}, 30*time.Second, 200*time.Millisecond, "the agent serves again: %s", procs.Tail(a.LogPath, 10))
	require.False(t, strings.Contains(procs.Tail(a.LogPath, 5), "store failed"))
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Sync())
}
