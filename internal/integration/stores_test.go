package integration

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// stoppedDataDir starts a three-member cluster, stops n3 cleanly and
// returns the cluster and a pristine copy of n3's data dir, which each case
// puts back before damaging it.
func stoppedDataDir(t *testing.T) (*procs.Cluster, string) {
	c := procs.NewCluster(t, batonBin)
	c.Start(3)
	n3 := c.Agent("n3")
	n3.Stop()
	_, err := os.Stat(filepath.Join(n3.DataDir, "baton-identity.json"))
	require.NoError(t, err, "an agent that ran keeps its identity marker")
	pristine := filepath.Join(t.TempDir(), "n3-pristine")
	require.NoError(t, os.CopyFS(pristine, os.DirFS(n3.DataDir)))
	return c, pristine
}

// resetDataDir replaces a's data dir with a copy of pristine.
func resetDataDir(t *testing.T, a *procs.Agent, pristine string) {
	t.Helper()
	require.NoError(t, os.RemoveAll(a.DataDir))
	require.NoError(t, os.CopyFS(a.DataDir, os.DirFS(pristine)))
}

// launchRefused starts a with extra flags, requires it to exit 1 on its
// own and returns what it wrote, which must not show a panic.
func launchRefused(t *testing.T, a *procs.Agent, extra ...string) string {
	t.Helper()
	before := logSize(t, a)
	require.NoError(t, a.Launch(extra...))
	code, err := a.WaitExit(30 * time.Second)
	require.NoError(t, err)
	out := logSince(t, a, before)
	require.Equal(t, 1, code, "agent output:\n%s", out)
	require.NotContains(t, out, "panic:")
	require.NotContains(t, out, "goroutine ")
	return out
}

func logSize(t *testing.T, a *procs.Agent) int64 {
	fi, err := os.Stat(a.LogPath)
	require.NoError(t, err)
	return fi.Size()
}

func logSince(t *testing.T, a *procs.Agent, from int64) string {
	f, err := os.Open(a.LogPath)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Seek(from, io.SeekStart)
	require.NoError(t, err)
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return string(b)
}

// garbleFile overwrites the file from offset 0 to its middle with a fixed
// pattern, the meta pages included.
func garbleFile(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	junk := make([]byte, fi.Size()/2)
	for i := range junk {
		junk[i] = byte(i*7 + 13)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(junk, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// Issue 14: a truncated or garbled raft.db or journal.db made bbolt panic
// (exit 2, a stack trace). Each now stops the agent with exit 1 and a
// message that names the file and what to do.
func TestDamagedStoreStopsTheAgentWithAClearMessage(t *testing.T) {
	c, pristine := stoppedDataDir(t)
	n3 := c.Agent("n3")
	cases := []struct {
		name, file string
		damage     func(t *testing.T, path string)
	}{
		{"raft.db truncated to zero", "raft.db", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 0)) }},
		{"raft.db truncated to one page", "raft.db", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 4096)) }},
		{"raft.db garbled", "raft.db", garbleFile},
		{"journal.db truncated to zero", "journal.db", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 0)) }},
		{"journal.db garbled", "journal.db", garbleFile},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resetDataDir(t, n3, pristine)
			path := filepath.Join(n3.DataDir, tc.file)
			tc.damage(t, path)
			out := launchRefused(t, n3)
			require.Contains(t, out, path, "the message names the file")
			require.Contains(t, out, "damaged store")
			require.Contains(t, out, "baton members remove n3", "the message says what to do")
		})
	}
}

// Issue 14: raft.db deleted started a blank agent that rejoined as a voter;
// journal.db deleted started with an empty journal, the record of installs
// already run gone. With the identity marker both refuse to start until
// --allow-state-loss; with it, the agent starts and rejoins.
func TestLostStateRefusesToStartWithoutTheFlag(t *testing.T) {
	c, pristine := stoppedDataDir(t)
	n3 := c.Agent("n3")
	for _, file := range []string{"raft.db", "journal.db"} {
		t.Run(file, func(t *testing.T) {
			resetDataDir(t, n3, pristine)
			path := filepath.Join(n3.DataDir, file)
			require.NoError(t, os.Remove(path))
			out := launchRefused(t, n3)
			require.Contains(t, out, "state lost")
			require.Contains(t, out, path)
			require.Contains(t, out, "--allow-state-loss")
			_, err := os.Stat(path)
			require.ErrorIs(t, err, os.ErrNotExist, "a refused start must not create the file")
		})
	}
	t.Run("journal.db with --allow-state-loss", func(t *testing.T) {
		resetDataDir(t, n3, pristine)
		require.NoError(t, os.Remove(filepath.Join(n3.DataDir, "journal.db")))
		before := logSize(t, n3)
		n3.Start("--allow-state-loss")
		c.WaitMembers(n3, 3, time.Minute)
		require.Contains(t, logSince(t, n3, before), "starting without lost state (--allow-state-loss)",
			"the agent says what it started without")
		n3.Stop()
		// The next start has its files again: no flag needed.
		n3.Start()
		c.WaitMembers(n3, 3, time.Minute)
	})
}

// Issue 14: a crafted snapshot installed on an agent made it panic in
// FSM.Restore at every restart. Written into a stopped agent's snapshot
// store, it now stops the agent with exit 1 and a clear message.
func TestBadSnapshotOnDiskStopsTheAgentWithoutPanic(t *testing.T) {
	c, _ := stoppedDataDir(t)
	n3 := c.Agent("n3")
	var servers []raft.Server
	for _, a := range c.Agents {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(a.ID), Address: raft.ServerAddress(a.RaftAddr)})
	}
	for _, payload := range []string{`{"txns":{"x":null}}`, `{"txn_order":[""]}`} {
		t.Run(payload, func(t *testing.T) {
			store, err := raft.NewFileSnapshotStore(n3.DataDir, 100, io.Discard)
			require.NoError(t, err)
			_, trans := raft.NewInmemTransport("")
			sink, err := store.Create(raft.SnapshotVersionMax, 1<<20, 1<<10, raft.Configuration{Servers: servers}, 1, trans)
			require.NoError(t, err)
			_, err = sink.Write([]byte(payload))
			require.NoError(t, err)
			require.NoError(t, sink.Close())

			out := launchRefused(t, n3)
			require.Contains(t, out, "no snapshot in "+filepath.Join(n3.DataDir, "snapshots")+" restores")
			require.Contains(t, out, "failed to restore snapshot", "the log says why the snapshot was refused")
		})
	}
}
