package checker

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Input is everything a run left behind for the checkers.
type Input struct {
	// Ops are the clients' operations, complete (ok, fail or info).
	Ops []history.Op
	// Commands are the committed commands, one per Raft index, in index
	// order (history.Commands of every agent's events).
	Commands []history.Event
	// Tenures are the spans during which each agent believed it led, from
	// the agents' logs.
	Tenures []procs.Tenure
	// Hooks is the hook journal: what each hook did and when.
	Hooks []procs.HookEvent
	// Acks are the completion notices the leader acknowledged to a node,
	// from the nodes' logs.
	Acks []NoticeAck
	// Final is every transaction as a consistent read showed it at the end.
	Final []api.Txn
	// Launches are the agent starts, with the build each ran.
	Launches []history.Launch
	// InitialProtocol is the cluster's active protocol version at start.
	InitialProtocol int
	// Healed is when the last fault healed; SettleBound is how long after
	// it every transaction must have ended (I7).
	Healed      time.Time
	SettleBound time.Duration
	// End is when the history ends.
	End time.Time
	// LinearizabilityTimeout bounds porcupine (5 minutes when zero).
	LinearizabilityTimeout time.Duration
	// VisualizePath, when set, is where the linearizability checker writes
	// porcupine's HTML view of the history.
	VisualizePath string
	// GatewayName is the suite's gateway in the cluster's registry;
	// GatewayRequests are the client requests sent through it, and
	// ServiceRequests what each node's service received (nil: no gateway
	// in the run). Late are the batches the leader sent without every
	// gateway's confirmation (I11).
	GatewayName     string
	GatewayRequests []procs.LoadRequest
	ServiceRequests map[string][]procs.ServiceRequest
	Late            []LateAnnouncement
}

// NoticeAck is a completion notice a node saw acknowledged.
type NoticeAck struct {
	Node    string        `json:"node"`
	Txn     string        `json:"txn"`
	Attempt uint64        `json:"attempt"`
	State   api.StepState `json:"state"`
	At      time.Time     `json:"at"`
}

// Status is a checker's verdict.
type Status string

// Verdicts. Unknown means the checker could not decide (porcupine's time
// limit), which a run must not count as a pass.
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Unknown Status = "unknown"
)

// Violation is a counter-example.
type Violation struct {
	At    time.Time `json:"at"`
	Txn   string    `json:"txn,omitempty"`
	Nodes []string  `json:"nodes,omitempty"`
	What  string    `json:"what"`
}

func (v *Violation) String() string {
	var b strings.Builder
	b.WriteString(v.At.UTC().Format("15:04:05.000"))
	if v.Txn != "" {
		fmt.Fprintf(&b, " txn %s", v.Txn)
	}
	if len(v.Nodes) > 0 {
		fmt.Fprintf(&b, " nodes %s", strings.Join(v.Nodes, ","))
	}
	b.WriteString(": ")
	b.WriteString(v.What)
	return b.String()
}

// Result is one checker's verdict.
type Result struct {
	Invariant string     `json:"invariant"`
	Name      string     `json:"name"`
	Status    Status     `json:"status"`
	Checked   int        `json:"checked"`
	Violation *Violation `json:"violation,omitempty"`
	Note      string     `json:"note,omitempty"`
}

// Checker is one invariant's check.
type Checker struct {
	Invariant string
	Name      string
	Check     func(Input) Result
}

// All lists every checker in report order.
func All() []Checker {
	return []Checker{
		{"I1", "one active transaction", CheckOneActive},
		{"I2", "install at most once per attempt; a step completes once", CheckOnce},
		{"I3", "never more than max-parallel installs at once", CheckMaxParallel},
		{"I4", "no install starts on the leader", CheckNoLeaderInstall},
		{"I5", "acknowledged completion notices are never lost", CheckNoticesKept},
		{"I6", "protocol rises only when every member supports it", CheckProtocol},
		{"I7", "every transaction ends after the faults heal", CheckSettled},
		{"I8", "no step begins after a committed abort", CheckNoBeginAfterAbort},
		{"I9", "never two ring neighbours upgrading at once", CheckRingNeighbours},
		{"I10a", "never two service primaries at once", CheckOnePrimary},
		{"I10b", "no install on the service's primary", CheckNoPrimaryUpgrade},
		{"I10c", "no promote over the lag limit", CheckPromoteLag},
		{"I11a", "no request routed to a node after its drain was announced", CheckGatewayDrain},
		{"I11b", "no POST body reaches a service twice", CheckBodyOnce},
		{"LIN", "consistent reads are linearizable", CheckLinearizable},
	}
}

// Run runs every checker.
func Run(in Input) []Result {
	var out []Result
	for _, c := range All() {
		r := c.Check(in)
		r.Invariant, r.Name = c.Invariant, c.Name
		out = append(out, r)
	}
	return out
}

// verdict turns the first violation found (or none) into a result.
func verdict(checked int, v *Violation) Result {
	if v != nil {
		return Result{Status: Fail, Checked: checked, Violation: v}
	}
	return Result{Status: Pass, Checked: checked}
}

// finalTxns indexes the final transactions by id.
func finalTxns(in Input) map[string]api.Txn {
	out := make(map[string]api.Txn, len(in.Final))
	for _, t := range in.Final {
		out[t.ID] = t
	}
	return out
}

// installRun is one install hook run from the journal: when it began and
// when it ended (the first end, fail or killed line of the same attempt;
// without one, the next journal line of the node or the end of history).
type installRun struct {
	Node, Txn  string
	Attempt    uint64
	Began      time.Time
	Ended      time.Time
	EndUnknown bool
}

func installRuns(in Input) []installRun {
	hooks := append([]procs.HookEvent(nil), in.Hooks...)
	sort.SliceStable(hooks, func(i, j int) bool { return hooks[i].At.Before(hooks[j].At) })
	var runs []installRun
	for i, h := range hooks {
		if h.Hook != "install" || h.Kind != "begin" {
			continue
		}
		run := installRun{Node: h.Node, Txn: h.Txn, Attempt: h.Attempt, Began: h.At}
		for _, later := range hooks[i+1:] {
			if later.Node != h.Node {
				continue
			}
			if later.Hook == "install" && later.Txn == h.Txn && later.Attempt == h.Attempt && later.Kind != "begin" {
				run.Ended = later.At
				break
			}
			if run.Ended.IsZero() && later.Hook != "install" {
				// A hook of a later phase or step ran on the node: the
				// install had ended by then at the latest.
				run.Ended, run.EndUnknown = later.At, true
			}
		}
		if run.Ended.IsZero() {
			end := in.End
			if end.IsZero() {
				end = h.At
			}
			run.Ended, run.EndUnknown = end, true
		}
		runs = append(runs, run)
	}
	return runs
}
