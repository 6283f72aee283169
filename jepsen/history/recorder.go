package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Recorder collects a run's history in memory and streams it to JSON-lines
// files: every operation's invocation and completion, every event, every
// fault and every agent launch. It is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	nextID   int64
	ops      []Op
	events   []Event
	faults   []Fault
	launches []Launch
	files    map[string]*bufio.Writer
	closers  []*os.File
	err      error
}

// Files the recorder writes under its directory.
const (
	OpsFile      = "history.jsonl"
	EventsFile   = "events.jsonl"
	FaultsFile   = "faults.jsonl"
	LaunchesFile = "launches.jsonl"
)

// NewRecorder returns a recorder writing under dir (created if needed); an
// empty dir keeps the history in memory only.
func NewRecorder(dir string) (*Recorder, error) {
	r := &Recorder{files: map[string]*bufio.Writer{}}
	if dir == "" {
		return r, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, name := range []string{OpsFile, EventsFile, FaultsFile, LaunchesFile} {
		f, err := os.Create(dir + "/" + name)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("history: %w", err)
		}
		r.closers = append(r.closers, f)
		r.files[name] = bufio.NewWriter(f)
	}
	return r, nil
}

func (r *Recorder) writeLocked(file string, v any) {
	w := r.files[file]
	if w == nil {
		return
	}
	b, err := json.Marshal(v)
	if err == nil {
		b = append(b, '\n')
		_, err = w.Write(b)
	}
	if err != nil && r.err == nil {
		r.err = err
	}
}

// Begin records the invocation of op (stamping its id and invoke time) and
// returns it for Finish.
func (r *Recorder) Begin(op Op) Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	op.ID, op.Invoke, op.Type = r.nextID, time.Now(), Invoke
	r.writeLocked(OpsFile, op)
	return op
}

// Finish records how op ended (stamping its completion time).
func (r *Recorder) Finish(op Op, t Type) Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Complete, op.Type = time.Now(), t
	r.ops = append(r.ops, op)
	r.writeLocked(OpsFile, op)
	return op
}

// AddEvent records an event an agent's stream delivered.
func (r *Recorder) AddEvent(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	r.writeLocked(EventsFile, e)
}

// AddFault records a fault once it has healed (and recovered, or not).
func (r *Recorder) AddFault(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f.ID = len(r.faults) + 1
	r.faults = append(r.faults, f)
	r.writeLocked(FaultsFile, f)
}

// AddLaunch records an agent start.
func (r *Recorder) AddLaunch(l Launch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.launches = append(r.launches, l)
	r.writeLocked(LaunchesFile, l)
}

// Ops returns the completed operations so far, in completion order.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// Events returns the events received so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Faults returns the faults recorded so far.
func (r *Recorder) Faults() []Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Fault(nil), r.faults...)
}

// Launches returns the agent launches so far.
func (r *Recorder) Launches() []Launch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Launch(nil), r.launches...)
}

// Flush writes buffered lines to the files.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.files {
		if err := w.Flush(); err != nil && r.err == nil {
			r.err = err
		}
	}
	return r.err
}

// Close flushes and closes the files.
func (r *Recorder) Close() error {
	err := r.Flush()
	for _, f := range r.closers {
		_ = f.Close()
	}
	r.closers = nil
	return err
}
