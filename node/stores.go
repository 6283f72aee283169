package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/node/storecheck"
)

// The files of a data dir that checkStores looks after.
const (
	raftDBFile    = "raft.db"
	journalDBFile = "journal.db"
	// IdentityFile is the marker an agent keeps in its data dir once it
	// has run: who it is, so that a later start can tell a data dir that
	// lost its state from one that never had any.
	IdentityFile = "baton-identity.json"
)

var (
	// ErrDamagedStore is the error of an agent that found raft.db or
	// journal.db damaged (empty, truncated or garbled) at start. It does
	// not start: its Raft state or its record of steps already run cannot
	// be trusted.
	ErrDamagedStore = errors.New("damaged store")
	// ErrStateLost is the error of an agent whose data dir shows it ran
	// before (IdentityFile) but whose raft.db or journal.db is missing, or
	// whose marker names another member. It does not start unless
	// Config.AllowStateLoss says the operator accepts the loss.
	ErrStateLost = errors.New("state lost")
)

// identity is the content of IdentityFile.
type identity struct {
	// MemberID is the member this data dir belongs to.
	MemberID string `json:"member_id"`
	// RaftAddr is the Raft address the agent last ran at (informative: an
	// agent may move).
	RaftAddr string `json:"raft_addr"`
	// FirstStart is when an agent first ran on this data dir.
	FirstStart time.Time `json:"first_start"`
	// ClusterID is the cluster whose state the data dir holds (empty
	// until known: a cluster bootstrapped by an older build).
	ClusterID string `json:"cluster_id,omitempty"`
}

// storeOpenTimeout bounds the wait for a store's lock during the check.
const storeOpenTimeout = time.Second

// checkStores runs before the stores are opened. It refuses a damaged
// raft.db or journal.db (ErrDamagedStore) and, when the identity marker
// shows the data dir was used before, a missing one (ErrStateLost, unless
// AllowStateLoss). Its errors name the file and the ways out.
func (a *Agent) checkStores() error {
	for _, name := range []string{raftDBFile, journalDBFile} {
		if err := storecheck.Check(filepath.Join(a.cfg.DataDir, name), storeOpenTimeout); err != nil {
			return a.storeError(name, err)
		}
	}
	id, err := readIdentity(a.cfg.DataDir)
	if err != nil || id == nil {
		return err
	}
	if id.MemberID != a.cfg.ID {
		return fmt.Errorf("%w: --data-dir %s belongs to member %q, not --id %s: give the member's own id, or another data dir",
			ErrStateLost, a.cfg.DataDir, id.MemberID, a.cfg.ID)
	}
	var missing []string
	for _, name := range []string{raftDBFile, journalDBFile} {
		if _, err := os.Stat(filepath.Join(a.cfg.DataDir, name)); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, filepath.Join(a.cfg.DataDir, name))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if a.cfg.AllowStateLoss {
		a.log.Warn("starting without lost state (--allow-state-loss)", "missing", missing,
			"note", "the Raft state is rebuilt from the cluster; steps recorded only in the lost journal may run again")
		return nil
	}
	return fmt.Errorf("%w: member %s ran on --data-dir %s before (%s), but %s %s missing. "+
		"Starting blank would rejoin the cluster with its term, vote and log forgotten, "+
		"and without the journal's record of the steps it already ran (they could run twice). "+
		"Either put the files back from a backup; or remove the member (baton members remove %s --force), "+
		"empty the data dir and join it afresh; or, knowing what is lost, start it with --allow-state-loss",
		ErrStateLost, a.cfg.ID, a.cfg.DataDir, IdentityFile, strings.Join(missing, " and "), plural(len(missing), "is", "are"), a.cfg.ID)
}

// storeError explains a failed check of the store name.
func (a *Agent) storeError(name string, err error) error {
	if errors.Is(err, storecheck.ErrLocked) {
		return fmt.Errorf("open %s: %w (is another agent using --data-dir %s?)", name, err, a.cfg.DataDir)
	}
	what := "the Raft log and the member's term and vote"
	if name == journalDBFile {
		what = "the record of the steps this node ran, which keeps each install at most once"
	}
	return fmt.Errorf("%w: %v. It holds %s and cannot be trusted. "+
		"Stop here and either put the data dir back from a backup, "+
		"or remove the member (baton members remove %s --force), empty --data-dir %s and join it afresh",
		ErrDamagedStore, err, what, a.cfg.ID, a.cfg.DataDir)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// readIdentity reads the marker of dir, or returns nil when there is none.
func readIdentity(dir string) (*identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, IdentityFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read identity marker: %w", err)
	}
	var id identity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, fmt.Errorf("%w: identity marker %s: %w (remove it only if this data dir is this member's)",
			ErrDamagedStore, filepath.Join(dir, IdentityFile), err)
	}
	return &id, nil
}

// writeIdentity records, once the stores are open, that this member runs
// on its data dir; the first start's time is kept.
func (a *Agent) writeIdentity() error {
	id := identity{MemberID: a.cfg.ID, RaftAddr: a.cfg.RaftAddr, FirstStart: time.Now().UTC(), ClusterID: a.ClusterID()}
	if old, err := readIdentity(a.cfg.DataDir); err == nil && old != nil {
		if !old.FirstStart.IsZero() {
			id.FirstStart = old.FirstStart
		}
		if id.ClusterID == "" {
			id.ClusterID = old.ClusterID
		}
	}
	a.setClusterID(id.ClusterID)
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(a.cfg.DataDir, IdentityFile)
	tmp := path + ".tmp"
	if err := writeSynced(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write identity marker: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write identity marker: %w", err)
	}
	// The directory's fsync makes the marker's name durable, and with it
	// the names of raft.db, journal.db and snapshots/ created before it:
	// a power cut must not leave a marker without the stores it vouches
	// for, nor stores that vanish while the marker stays.
	if err := syncPath(a.cfg.DataDir); err != nil {
		return fmt.Errorf("%w: fsync --data-dir %s: %w", ErrStoreFailed, a.cfg.DataDir, err)
	}
	return nil
}

// writeSynced writes data to path and fsyncs it.
func writeSynced(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncPath fsyncs a file or directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncStores fsyncs the stores and the data dir before the agent trusts
// what it reads from them. An agent that stopped on a failed fsync left
// writes that may be in the page cache only; a restart reads them as if
// they were stored, and without this it could answer for them (match a
// leader's entries, count a vote) before its next write syncs the file.
// A refused fsync here stops the start: the disk still fails.
func (a *Agent) syncStores() error {
	for _, name := range []string{raftDBFile, journalDBFile, IdentityFile, ""} {
		path := filepath.Join(a.cfg.DataDir, name)
		if err := syncPath(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: fsync %s at start: %w. Free space on (or repair) the disk, then start the agent again",
				ErrStoreFailed, path, err)
		}
	}
	return nil
}
