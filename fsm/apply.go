package fsm

import (
	"encoding/json"
	"fmt"
	"time"
)

// Result is what Apply returns through raft's ApplyFuture.Response.
type Result struct {
	// Index is the Raft index of the applied entry.
	Index uint64
	// Err is the rejection, or nil when the command took effect.
	Err error
}

// handlers maps each command type to its decoder and handler. A handler
// validates everything before it changes anything, so a rejected command
// leaves the state as it was.
var handlers = map[CommandType]func(s *State, now time.Time, data json.RawMessage) error{
	CmdMemberJoin:         handle((*State).applyMemberJoin),
	CmdMemberLeave:        handle((*State).applyMemberLeave),
	CmdMemberReport:       handle((*State).applyMemberReport),
	CmdMemberStatus:       handle((*State).applyMemberStatus),
	CmdMemberLiveness:     handle((*State).applyMemberLiveness),
	CmdMemberForceLeave:   handle((*State).applyMemberForceLeave),
	CmdMemberMove:         handle((*State).applyMemberMove),
	CmdTxnStart:           handle((*State).applyTxnStart),
	CmdStepBegin:          handle((*State).applyStepBegin),
	CmdStepComplete:       handle((*State).applyStepComplete),
	CmdStepFail:           handle((*State).applyStepFail),
	CmdTxnPause:           handle((*State).applyTxnPause),
	CmdTxnResume:          handle((*State).applyTxnResume),
	CmdTxnRetry:           handle((*State).applyTxnRetry),
	CmdTxnAbort:           handle((*State).applyTxnAbort),
	CmdTxnFinish:          handle((*State).applyTxnFinish),
	CmdTxnFinalize:        handle((*State).applyTxnFinalize),
	CmdTxnNote:            handle((*State).applyTxnNote),
	CmdMemberVersionError: handle((*State).applyMemberVersionError),
	CmdMemberKey:          handle((*State).applyMemberKey),
	CmdClientRegister:     handle((*State).applyClientRegister), // clients.go
	CmdStepSkip:           handle((*State).applyStepSkip),
	CmdTxnHalt:            handle((*State).applyTxnHalt),
	CmdTxnRecover:         handle((*State).applyTxnRecover),
	// The service's roles and switch-over (service.go).
	CmdServiceRoles:    handle((*State).applyServiceRoles),
	CmdSwitchoverBegin: handle((*State).applySwitchoverBegin),
	CmdSwitchoverPhase: handle((*State).applySwitchoverPhase),
	CmdSwitchoverFail:  handle((*State).applySwitchoverFail),
	// The failover ring and the gateway registry (ring.go, gateways.go).
	CmdRingSet:         handle((*State).applyRingSet),
	CmdMemberService:   handle((*State).applyMemberService),
	CmdGatewayRegister: handle((*State).applyGatewayRegister),
	CmdGatewayLeave:    handle((*State).applyGatewayLeave),
	CmdGatewayExpire:   handle((*State).applyGatewayExpire),
	// The groups of a grouped transaction (groups.go).
	CmdGroupActing: handle((*State).applyGroupActing),
	// The artifacts held by the cluster (artifacts.go).
	CmdArtifactAdd:  handle((*State).applyArtifactAdd),
	CmdArtifactHeld: handle((*State).applyArtifactHeld),
}

// handle adapts a typed handler to the table.
func handle[C any](fn func(*State, time.Time, C) error) func(*State, time.Time, json.RawMessage) error {
	return func(s *State, now time.Time, data json.RawMessage) error {
		var c C
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("%w: decode command body: %v", ErrUndecodable, err)
		}
		return fn(s, now, c)
	}
}

// Apply applies one decoded command at the given Raft index. It either takes
// full effect and returns nil, or returns an error and leaves s unchanged
// apart from the index. An optional command of an unknown type is skipped.
// A required command of an unknown type fails with ErrUnknownCommand, and a
// body that does not decode with ErrUndecodable: the FSM halts on both
// (see HaltError), as they mean this build cannot follow the log.
func (s *State) Apply(index uint64, e Envelope) error {
	s.Index = index
	h, ok := handlers[e.Type]
	if !ok {
		if e.Optional {
			return nil
		}
		return fmt.Errorf("%w: %q", ErrUnknownCommand, e.Type)
	}
	if err := h(s, e.Time, e.Data); err != nil {
		return fmt.Errorf("%s: %w", e.Type, err)
	}
	return nil
}

// known reports whether this build has a handler for commands of type t.
func known(t CommandType) bool {
	_, ok := handlers[t]
	return ok
}
