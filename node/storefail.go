package node

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// ErrStoreFailed is the error of an agent whose disk refused a write or an
// fsync of raft.db or journal.db while it ran (a full or failing disk), or
// whose store was found damaged under it. The agent stops at once: after a
// failed fsync the file's pages in memory may show what the disk never got
// (Linux marks them clean, so a later fsync succeeds without writing them:
// PostgreSQL's "fsyncgate"), and bbolt, after a commit whose meta page was
// written but not synced, may show that transaction with a free list that
// disagrees with it. Running on could acknowledge what is not stored.
var ErrStoreFailed = errors.New("store failed")

// LogStoreFailed is the line an agent logs when it stops on ErrStoreFailed.
const LogStoreFailed = "store failed; stopping"

// storeFailed stops the agent on a failed store: it logs what failed and
// what to do, tells Config.OnStoreFailure (the command exits there), and
// hands the error to Fatal.
func (a *Agent) storeFailed(err error) {
	err = fmt.Errorf("%w: %w. The agent stops rather than run on a store it cannot trust. "+
		"Free space on (or repair) the disk of --data-dir %s, then start the agent again: "+
		"it checks its stores at start and catches up from its peers", ErrStoreFailed, err, a.cfg.DataDir)
	a.log.Error(LogStoreFailed, "error", err)
	if a.cfg.OnStoreFailure != nil {
		a.cfg.OnStoreFailure(err)
	}
	select {
	case a.fatal <- err:
	default:
	}
}

// guardedStore is Raft's log and stable store with the agent's stop on
// failure: the first write the disk refuses, or panic inside bbolt, fences
// it (every later call fails without touching the file) and stops the
// agent. hashicorp/raft alone would run on: a follower whose StoreLogs
// fails answers the append with a failure and takes the next one; a leader
// steps down; only a failed term write panics.
type guardedStore struct {
	s      *raftboltdb.BoltStore
	path   string
	onFail func(error)

	mu     sync.Mutex
	fenced error
}

var (
	_ raft.LogStore    = (*guardedStore)(nil)
	_ raft.StableStore = (*guardedStore)(nil)
)

func (g *guardedStore) check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fenced
}

// fail fences the store with err and tells the agent, once.
func (g *guardedStore) fail(err error) error {
	g.mu.Lock()
	first := g.fenced == nil
	if first {
		g.fenced = err
	}
	err = g.fenced
	g.mu.Unlock()
	if first && g.onFail != nil {
		g.onFail(err)
	}
	return err
}

// write runs a write; any error it returns is the disk's.
func (g *guardedStore) write(op string, fn func() error) (err error) {
	if err := g.check(); err != nil {
		return err
	}
	defer g.recoverDamage(op, &err)
	if err := fn(); err != nil {
		return g.fail(fmt.Errorf("%s %s: %w", op, g.path, err))
	}
	return nil
}

// read runs a read; its errors (an entry or key not found) are its own,
// only a panic is damage.
func (g *guardedStore) read(op string, fn func() error) (err error) {
	if err := g.check(); err != nil {
		return err
	}
	defer g.recoverDamage(op, &err)
	return fn()
}

func (g *guardedStore) recoverDamage(op string, err *error) {
	if r := recover(); r != nil {
		*err = g.fail(fmt.Errorf("%s %s: %w: bbolt panicked reading it: %v", op, g.path, ErrDamagedStore, r))
	}
}

func (g *guardedStore) FirstIndex() (i uint64, err error) {
	err = g.read("read first index of", func() (e error) { i, e = g.s.FirstIndex(); return })
	return i, err
}

func (g *guardedStore) LastIndex() (i uint64, err error) {
	err = g.read("read last index of", func() (e error) { i, e = g.s.LastIndex(); return })
	return i, err
}

func (g *guardedStore) GetLog(index uint64, log *raft.Log) error {
	return g.read("read log entry from", func() error { return g.s.GetLog(index, log) })
}

func (g *guardedStore) StoreLog(log *raft.Log) error {
	return g.write("store log entry in", func() error { return g.s.StoreLog(log) })
}

func (g *guardedStore) StoreLogs(logs []*raft.Log) error {
	return g.write("store log entries in", func() error { return g.s.StoreLogs(logs) })
}

func (g *guardedStore) DeleteRange(lo, hi uint64) error {
	return g.write("delete log entries from", func() error { return g.s.DeleteRange(lo, hi) })
}

func (g *guardedStore) Set(k, v []byte) error {
	return g.write("store "+string(k)+" in", func() error { return g.s.Set(k, v) })
}

func (g *guardedStore) Get(k []byte) (v []byte, err error) {
	err = g.read("read "+string(k)+" from", func() (e error) { v, e = g.s.Get(k); return })
	return v, err
}

func (g *guardedStore) SetUint64(k []byte, v uint64) error {
	return g.write("store "+string(k)+" in", func() error { return g.s.SetUint64(k, v) })
}

func (g *guardedStore) GetUint64(k []byte) (v uint64, err error) {
	err = g.read("read "+string(k)+" from", func() (e error) { v, e = g.s.GetUint64(k); return })
	return v, err
}
