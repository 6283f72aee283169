package fsm

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// FSM adapts State to raft.FSM. It guards the state with a lock, and wakes
// readers waiting for the state to move past an index (long polling).
type FSM struct {
	// speaks is the newest protocol this build speaks: commands introduced
	// by a newer protocol are unknown to it.
	speaks  int
	mu      sync.RWMutex
	state   *State
	changed chan struct{} // closed and replaced after every apply or restore
	onApply func(index uint64, e Envelope, err error)
}

// OnApply registers fn to be told of every command applied, with its
// outcome. fn runs inside Apply, under the state lock: it must be quick,
// must not block and must not read the FSM. Register it before Raft starts.
func (f *FSM) OnApply(fn func(index uint64, e Envelope, err error)) { f.onApply = fn }

// New returns an FSM over the empty state of a new cluster at the given
// protocol version, for a build that speaks protocols up to protocol.
func New(protocol int) *FSM { return NewFor(protocol, protocol) }

// NewFor returns an FSM over the empty state of a new cluster at protocol
// active, for a build that speaks protocols up to speaks. A command this
// build does not speak is treated as unknown: skipped if optional, an error
// otherwise (which the protocol rule makes impossible in a healthy cluster).
func NewFor(active, speaks int) *FSM {
	return &FSM{state: NewState(active), speaks: speaks, changed: make(chan struct{})}
}

// Apply implements raft.FSM. Commands come back as *Result; configuration and
// other non-command entries only advance the index.
func (f *FSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer func() {
		f.notifyLocked()
		f.mu.Unlock()
	}()
	if l.Type != raft.LogCommand {
		f.state.Index = l.Index
		return &Result{Index: l.Index}
	}
	e, err := Decode(l.Data)
	if err != nil {
		f.state.Index = l.Index
		return &Result{Index: l.Index, Err: err}
	}
	if CommandProtocol(e.Type) > f.speaks {
		err = f.unknown(l.Index, e)
	} else {
		err = f.state.Apply(l.Index, e)
	}
	if f.onApply != nil {
		f.onApply(l.Index, e, err)
	}
	return &Result{Index: l.Index, Err: err}
}

// unknown handles a command of a protocol this build does not speak.
func (f *FSM) unknown(index uint64, e Envelope) error {
	f.state.Index = index
	if e.Optional {
		return nil
	}
	return fmt.Errorf("%w: %q needs protocol %d, this build speaks up to %d", ErrUnknownCommand, e.Type, CommandProtocol(e.Type), f.speaks)
}

func (f *FSM) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Snapshot implements raft.FSM by capturing a deep copy of the state.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := f.state.MarshalSnapshot()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return snapshot(b), nil
}

// Restore implements raft.FSM, replacing the whole state.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("restore: read: %w", err)
	}
	s, err := UnmarshalSnapshot(b)
	if err != nil {
		return fmt.Errorf("restore: decode: %w", err)
	}
	f.mu.Lock()
	f.state = s
	f.notifyLocked()
	f.mu.Unlock()
	return nil
}

// Read returns a deep copy of the current state.
func (f *FSM) Read() *State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Clone()
}

// View runs fn with the current state under the read lock. fn must not keep
// or change the state.
func (f *FSM) View(fn func(*State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// WaitIndex blocks until the applied index exceeds index or ctx ends, and
// returns the index reached. It never returns an error: a caller whose wait
// times out simply reads the state as it is.
func (f *FSM) WaitIndex(ctx context.Context, index uint64) uint64 {
	for {
		f.mu.RLock()
		cur, ch := f.state.Index, f.changed
		f.mu.RUnlock()
		if cur > index {
			return cur
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cur
		}
	}
}

// Changed returns a channel closed at the next apply or restore.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}
