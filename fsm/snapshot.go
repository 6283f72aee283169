package fsm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/hashicorp/raft"
)

// A snapshot is the whole state as JSON, the same bytes json.Marshal gives
// (map keys sorted, so equal states give equal bytes). It is written and
// read one catalogue entry, transaction and step at a time, so that
// neither side holds the encoded state whole: at 100,000 members it is
// 50 MB of JSON, and building it in memory cost five times that in
// allocations (the buffer grows by doubling, then is copied out).

// stateSnapshot is the state as it was when Raft asked for a snapshot: a
// deep copy that later applies cannot touch, encoded in Persist while
// commands go on.
type stateSnapshot struct{ state *State }

// Persist streams the state to the sink. On failure it cancels the sink,
// so Raft keeps its previous snapshot and log.
func (s stateSnapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 64<<10)
	err := s.state.WriteSnapshot(w)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot; the copy is left to the collector.
func (stateSnapshot) Release() {}

// MarshalSnapshot serialises the state for a snapshot, whole, in memory.
func (s *State) MarshalSnapshot() ([]byte, error) {
	var b bytes.Buffer
	if err := s.WriteSnapshot(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteSnapshot writes the state to w as MarshalSnapshot's bytes, one
// member, transaction and step at a time. The caller must hold the state
// still (a copy, or the FSM's lock).
func (s *State) WriteSnapshot(w io.Writer) error {
	e := newSnapshotEncoder(w)
	if err := e.state(s); err != nil {
		return err
	}
	return e.err
}

// snapshotEncoder writes JSON values to w through one reused encoder.
type snapshotEncoder struct {
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
	err error // the first write error
}

func newSnapshotEncoder(w io.Writer) *snapshotEncoder {
	e := &snapshotEncoder{w: w}
	e.enc = json.NewEncoder(&e.buf)
	return e
}

func (e *snapshotEncoder) write(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

// value writes v as json.Marshal encodes it.
func (e *snapshotEncoder) value(v any) error {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	e.write(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))) // Encode ends each value with a newline
	return e.err
}

// errNoHole means that the JSON of a state or transaction with an empty
// member, transaction or step list did not show it where expected: its
// field's JSON name or encoding changed, and streaming must follow.
var errNoHole = errors.New("snapshot: the encoding of the state no longer has the shape the streaming encoder expects")

// spliced writes shell, the JSON of a value whose large fields were
// emptied, with each hole (such as `"members":{}`, the first one after the
// previous hole) filled by its fill function in place of its empty
// contents.
func (e *snapshotEncoder) spliced(shell any, holes []string, fills []func() error) error {
	skel, err := json.Marshal(shell)
	if err != nil {
		return err
	}
	at := 0
	for i, hole := range holes {
		n := bytes.Index(skel[at:], []byte(hole))
		if n < 0 {
			return fmt.Errorf("%w: no %s", errNoHole, hole)
		}
		end := at + n + len(hole) - 1 // the closing bracket of the empty value
		e.write(skel[at:end])
		if err := fills[i](); err != nil {
			return err
		}
		at = end
	}
	e.write(skel[at:])
	return e.err
}

func (e *snapshotEncoder) state(s *State) error {
	if s.Members == nil || s.Txns == nil {
		return e.value(s) // null, not {}: small, and written whole
	}
	shell := *s
	shell.Members, shell.Txns = map[string]Member{}, map[string]*Txn{}
	return e.spliced(&shell, []string{`"members":{}`, `"txns":{}`}, []func() error{
		func() error { return e.members(s.Members) },
		func() error { return e.txns(s.Txns) },
	})
}

func (e *snapshotEncoder) members(ms map[string]Member) error {
	ids := make([]string, 0, len(ms))
	for id := range ms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for i, id := range ids {
		if err := e.entry(i, id); err != nil {
			return err
		}
		if err := e.value(ms[id]); err != nil {
			return err
		}
	}
	return nil
}

func (e *snapshotEncoder) txns(ts map[string]*Txn) error {
	ids := make([]string, 0, len(ts))
	for id := range ts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for i, id := range ids {
		if err := e.entry(i, id); err != nil {
			return err
		}
		if err := e.txn(ts[id]); err != nil {
			return err
		}
	}
	return nil
}

// entry writes the key of the i-th entry of an object.
func (e *snapshotEncoder) entry(i int, key string) error {
	if i > 0 {
		e.write([]byte{','})
	}
	if err := e.value(key); err != nil {
		return err
	}
	e.write([]byte{':'})
	return e.err
}

func (e *snapshotEncoder) txn(t *Txn) error {
	if t == nil || t.Steps == nil {
		return e.value(t)
	}
	shell := *t
	shell.Steps = []Step{}
	return e.spliced(&shell, []string{`"steps":[]`}, []func() error{func() error {
		for i := range t.Steps {
			if i > 0 {
				e.write([]byte{','})
			}
			if err := e.value(&t.Steps[i]); err != nil {
				return err
			}
		}
		return nil
	}})
}

// UnmarshalSnapshot restores a state written by MarshalSnapshot.
func UnmarshalSnapshot(b []byte) (*State, error) { return ReadSnapshot(bytes.NewReader(b)) }

// ReadSnapshot reads a state written by WriteSnapshot (any JSON object
// json.Unmarshal would read into a State), one member and transaction at
// a time. It fails on malformed JSON or data after the object.
func ReadSnapshot(r io.Reader) (*State, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	s := &State{Members: map[string]Member{}, Txns: map[string]*Txn{}}
	rest := map[string]json.RawMessage{}
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return nil, err
		}
		switch key {
		case "members":
			err = eachEntry(dec, func(id string) error {
				var m Member
				if err := dec.Decode(&m); err != nil {
					return fmt.Errorf("member %q: %w", id, err)
				}
				s.Members[id] = m
				return nil
			})
		case "txns":
			err = eachEntry(dec, func(id string) error {
				var t *Txn
				if err := dec.Decode(&t); err != nil {
					return fmt.Errorf("transaction %q: %w", id, err)
				}
				s.Txns[id] = t
				return nil
			})
		default:
			var raw json.RawMessage
			err = dec.Decode(&raw)
			rest[key] = raw
		}
		if err != nil {
			return nil, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("snapshot: data after the state")
	}
	// The other fields are small: read them as json.Unmarshal would.
	b, err := json.Marshal(rest)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	if s.Members == nil {
		s.Members = map[string]Member{}
	}
	if s.Txns == nil {
		s.Txns = map[string]*Txn{}
	}
	for id, t := range s.Txns {
		if t == nil {
			return nil, fmt.Errorf("snapshot: transaction %q is null", id)
		}
		t.reindex()
	}
	return s, nil
}

// eachEntry reads an object (or null) whose values fn decodes, key by key.
func eachEntry(dec *json.Decoder, fn func(key string) error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("snapshot: want an object, got %v", tok)
	}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("snapshot: want a key, got %v", tok)
	}
	return s, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("snapshot: want %q, got %v", want, tok)
	}
	return nil
}
