package fsm

import (
	"encoding/json"
	"fmt"
)

// Result is what Apply returns through raft's ApplyFuture.Response.
type Result struct {
	// Index is the Raft index of the applied entry.
	Index uint64
	// Err is the rejection, or nil when the command took effect.
	Err error
}

// Apply applies one decoded command at the given Raft index. It either takes
// full effect and returns nil, or returns an error and leaves s unchanged.
// An optional command of an unknown type is skipped without error.
func (s *State) Apply(index uint64, e Envelope) error {
	s.Index = index
	switch e.Type {
	case CmdMemberJoin:
		var c MemberJoin
		if err := decodeBody(e, &c); err != nil {
			return err
		}
		return s.applyMemberJoin(c)
	case CmdMemberLeave:
		var c MemberLeave
		if err := decodeBody(e, &c); err != nil {
			return err
		}
		return s.applyMemberLeave(c)
	case CmdMemberReport:
		var c MemberReport
		if err := decodeBody(e, &c); err != nil {
			return err
		}
		return s.applyMemberReport(c)
	}
	if e.Optional {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrUnknownCommand, e.Type)
}

func decodeBody(e Envelope, v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("%w: decode %s: %v", ErrInvalid, e.Type, err)
	}
	return nil
}
