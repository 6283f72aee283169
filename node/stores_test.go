package node

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// storesAgent is an agent with only what checkStores reads.
func storesAgent(dir, id string, allowLoss bool) *Agent {
	return &Agent{cfg: Config{ID: id, DataDir: dir, RaftAddr: "127.0.0.1:7000", AllowStateLoss: allowLoss}, log: hclog.NewNullLogger()}
}

func TestCheckStores(t *testing.T) {
	// ran is a data dir of n1 that ran and then lost both stores: its
	// marker alone.
	ran := func(t *testing.T) string {
		dir := t.TempDir()
		require.NoError(t, storesAgent(dir, "n1", false).writeIdentity())
		return dir
	}
	t.Run("a new data dir starts", func(t *testing.T) {
		require.NoError(t, storesAgent(t.TempDir(), "n1", false).checkStores())
	})
	t.Run("a data dir that ran and lost both stores is refused", func(t *testing.T) {
		err := storesAgent(ran(t), "n1", false).checkStores()
		require.ErrorIs(t, err, ErrStateLost)
		require.Contains(t, err.Error(), "raft.db and ")
		require.Contains(t, err.Error(), "--allow-state-loss")
	})
	t.Run("unless the operator allows it", func(t *testing.T) {
		require.NoError(t, storesAgent(ran(t), "n1", true).checkStores())
	})
	t.Run("the data dir of another member is refused, flag or not", func(t *testing.T) {
		err := storesAgent(ran(t), "n2", true).checkStores()
		require.ErrorIs(t, err, ErrStateLost)
		require.Contains(t, err.Error(), `belongs to member "n1"`)
	})
	t.Run("an empty store is damaged, flag or not", func(t *testing.T) {
		dir := ran(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, journalDBFile), nil, 0o600))
		err := storesAgent(dir, "n1", true).checkStores()
		require.ErrorIs(t, err, ErrDamagedStore)
		require.Contains(t, err.Error(), filepath.Join(dir, journalDBFile))
	})
	t.Run("a garbled marker is refused", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, IdentityFile), []byte("{"), 0o600))
		require.ErrorIs(t, storesAgent(dir, "n1", false).checkStores(), ErrDamagedStore)
	})
	t.Run("the marker keeps the first start", func(t *testing.T) {
		dir := ran(t)
		first, err := readIdentity(dir)
		require.NoError(t, err)
		require.NoError(t, storesAgent(dir, "n1", false).writeIdentity())
		again, err := readIdentity(dir)
		require.NoError(t, err)
		require.Equal(t, first.FirstStart, again.FirstStart)
		require.Equal(t, "n1", again.MemberID)
	})
}
