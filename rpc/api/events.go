package api

import "time"

// EventType names an event of /v1/events. An applied command's event is
// named after the command's type in the replicated log, so these names are
// as permanent as the log's; the two leadership events are the agent's own.
type EventType string

// Event types of applied commands.
const (
	EventMemberJoin         EventType = "member.join"
	EventMemberLeave        EventType = "member.leave"
	EventMemberReport       EventType = "member.report"
	EventMemberStatus       EventType = "member.status"      // protocol 2: a member's build report
	EventMemberLiveness     EventType = "member.liveness"    // protocol 3: the leader reaches a member, or no longer does
	EventMemberForceLeave   EventType = "member.force-leave" // protocol 3: a member removed whatever its steps; its unfinished step failed
	EventMemberMove         EventType = "member.move"        // protocol 3: a member restarted at another Raft address
	EventMemberKey          EventType = "member.key"         // protocol 3: a member's agent registered its signing key
	EventClientRegister     EventType = "client.register"    // protocol 3: a client agent registered (docs/clients.md)
	EventTxnStart           EventType = "txn.start"
	EventStepBegin          EventType = "step.begin"
	EventStepComplete       EventType = "step.complete" // the completion notice of a done attempt (upgrade or rollback)
	EventStepFail           EventType = "step.fail"
	EventTxnPause           EventType = "txn.pause"
	EventTxnResume          EventType = "txn.resume"
	EventTxnRetry           EventType = "txn.retry"
	EventTxnAbort           EventType = "txn.abort"
	EventTxnFinish          EventType = "txn.finish" // an aborting transaction ends, aborted
	EventTxnFinalize        EventType = "txn.finalize"
	EventTxnNote            EventType = "txn.note"
	EventMemberVersionError EventType = "member.version_error" // protocol 3: a member's version hook fails, or works again
	EventStepSkip           EventType = "step.skip"            // protocol 3: a step done without running, its node already at the target
	EventTxnHalt            EventType = "txn.halt"             // protocol 3: a rollback failed; the transaction is now rollback-failed
	EventTxnRecover         EventType = "txn.recover"          // protocol 3: an operator retried the rollback (Rollback) or rolled forward
	// The service's roles and switch-over (protocol 3): Primary names the
	// service's primary the event records or moves to, Phase the phase.
	EventServiceRoles    EventType = "service.roles"
	EventSwitchoverBegin EventType = "switchover.begin"
	EventSwitchoverPhase EventType = "switchover.phase"
	EventSwitchoverFail  EventType = "switchover.fail"
	// The failover ring and the gateway registry (protocol 3; docs/ring.md).
	EventRingSet       EventType = "ring.set"       // the failover ring's order was set
	EventMemberService EventType = "member.service" // Node's service address was recorded
	// A gateway registered, left, or was expired by the leader; Gateway
	// names it.
	EventGatewayRegister EventType = "gateway.register"
	EventGatewayLeave    EventType = "gateway.leave"
	EventGatewayExpire   EventType = "gateway.expire"
	// EventGroupActing: a member acts for its group while the group's
	// leader upgrades or is unreachable, or the leader acts again
	// (protocol 3).
	EventGroupActing EventType = "group.acting"
	// EventArtifactAdd and EventArtifactHeld: an artifact pushed to the
	// cluster, and one more server holding it (protocol 3).
	EventArtifactAdd  EventType = "artifact.add"
	EventArtifactHeld EventType = "artifact.held"
)

// Event types of an agent's own leadership changes.
const (
	EventLeadershipGained EventType = "leadership.gained"
	EventLeadershipLost   EventType = "leadership.lost"
)

// IsCommand reports whether t is an applied command rather than a change of
// the reporting agent's leadership.
func (t EventType) IsCommand() bool {
	return t != EventLeadershipGained && t != EventLeadershipLost
}

// Event is one thing an agent saw: an accepted command applied to its state
// machine (Time is the leader's stamp in the command) or a change of its own
// leadership (Time is the agent's clock). Index is the Raft index.
type Event struct {
	Seq      uint64    `json:"seq"`
	Index    uint64    `json:"index"`
	Type     EventType `json:"type"`
	Time     time.Time `json:"time"`
	Agent    string    `json:"agent"`
	Txn      string    `json:"txn,omitempty"`
	Node     string    `json:"node,omitempty"`
	Attempt  uint64    `json:"attempt,omitempty"`
	Version  string    `json:"version,omitempty"`
	Protocol int       `json:"protocol,omitempty"`
	Rollback bool      `json:"rollback,omitempty"`
	Error    string    `json:"error,omitempty"`
	Primary  string    `json:"primary,omitempty"`
	Phase    string    `json:"phase,omitempty"`
	// Gateway names the gateway of a gateway.* event.
	Gateway string `json:"gateway,omitempty"`
}

// Events is a page of events; pass Next as ?after= to wait for the next.
type Events struct {
	Events []Event `json:"events"`
	Next   uint64  `json:"next"`
}
