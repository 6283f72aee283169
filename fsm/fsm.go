package fsm

import (
	"context"
	"errors"
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
	// halted is set by the first entry this build cannot apply; nothing
	// is applied after it (see HaltError).
	halted *HaltError
	onHalt func(*HaltError)
	onSkip func(index uint64, e Envelope)
}

// OnHalt registers fn to be told, once, that the FSM met an entry it cannot
// apply and stopped applying. fn runs inside Apply under the state lock: it
// must not block or read the FSM; the agent stops itself from it. Register
// it before Raft starts.
func (f *FSM) OnHalt(fn func(*HaltError)) { f.onHalt = fn }

// OnSkip registers fn to be told of every optional entry of an unknown type
// or protocol that the FSM skipped. Same rules as OnApply.
func (f *FSM) OnSkip(fn func(index uint64, e Envelope)) { f.onSkip = fn }

// Halted returns the entry that stopped the FSM, or nil.
func (f *FSM) Halted() *HaltError {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.halted
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
// build does not speak is treated as unknown: skipped if optional; if
// required, the FSM halts (which the protocol rule makes impossible in a
// healthy cluster).
func NewFor(active, speaks int) *FSM {
	return &FSM{state: NewState(active), speaks: speaks, changed: make(chan struct{})}
}

// Apply implements raft.FSM. Commands come back as *Result; configuration and
// other non-command entries only advance the index.
//
// A rejected command (invalid, conflicting, stale) is rejected alike on
// every replica and changes nothing but the index. An entry this build
// cannot apply at all is different: every other replica may have applied
// it, so the FSM halts rather than diverge silently. The entry and every
// later one come back with the *HaltError, the state stays as it was
// before the entry, and OnHalt is told once.
func (f *FSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer func() {
		f.notifyLocked()
		f.mu.Unlock()
	}()
	if f.halted != nil {
		return &Result{Index: l.Index, Err: f.halted}
	}
	if l.Type != raft.LogCommand {
		f.state.Index = l.Index
		return &Result{Index: l.Index}
	}
	e, err := Decode(l.Data)
	if err != nil {
		return &Result{Index: l.Index, Err: f.halt(l.Index, e, err)}
	}
	if !known(e.Type) || CommandProtocol(e.Type) > f.speaks {
		if !e.Optional {
			return &Result{Index: l.Index, Err: f.halt(l.Index, e, f.unknown(e))}
		}
		f.state.Index = l.Index
		if f.onSkip != nil {
			f.onSkip(l.Index, e)
		}
		return &Result{Index: l.Index}
	}
	prev := f.state.Index
	err = f.state.Apply(l.Index, e)
	if errors.Is(err, ErrUndecodable) {
		f.state.Index = prev
		return &Result{Index: l.Index, Err: f.halt(l.Index, e, err)}
	}
	if f.onApply != nil {
		f.onApply(l.Index, e, err)
	}
	return &Result{Index: l.Index, Err: err}
}

// unknown says why this build does not know a command.
func (f *FSM) unknown(e Envelope) error {
	if known(e.Type) {
		return fmt.Errorf("%w: %q needs protocol %d, this build speaks up to %d", ErrUnknownCommand, e.Type, CommandProtocol(e.Type), f.speaks)
	}
	return fmt.Errorf("%w: %q (entry encoded at protocol %d, this build speaks up to %d)", ErrUnknownCommand, e.Type, e.Protocol, f.speaks)
}

// halt stops the FSM at the entry at index; f.mu must be held.
func (f *FSM) halt(index uint64, e Envelope, err error) *HaltError {
	f.halted = &HaltError{Index: index, Type: e.Type, Protocol: e.Protocol, Err: err}
	if f.onHalt != nil {
		f.onHalt(f.halted)
	}
	return f.halted
}

func (f *FSM) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Snapshot implements raft.FSM by capturing a deep copy of the state;
// Persist encodes the copy to Raft's sink while commands go on. Raft runs
// Snapshot between two applies, so commands wait only for the copy. A
// halted FSM refuses: Raft would record the snapshot as covering the entry
// it could not apply, and a restart would then skip that entry for good.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.halted != nil {
		return nil, fmt.Errorf("snapshot refused: %w", f.halted)
	}
	return stateSnapshot{state: f.state.Clone()}, nil
}

// Restore implements raft.FSM, replacing the whole state with the one
// read from rc, which it decodes as it reads and then validates
// (State.Validate). A snapshot it cannot read, or one that breaks an
// invariant (an error wrapping ErrBadState), changes nothing: a crafted
// or damaged snapshot is refused, never installed to panic later.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := ReadSnapshot(rc)
	if err != nil {
		return fmt.Errorf("restore: decode: %w", err)
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f.mu.Lock()
	// A snapshot from the leader holds the effect of every entry it
	// covers, the one this build could not apply included.
	f.state, f.halted = s, nil
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
