package checker

import (
	"sort"
	"time"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

// builder writes hand-made histories: times are milliseconds after t0.
type builder struct {
	t0   time.Time
	opID int64
	in   Input
}

func newBuilder() *builder {
	return &builder{t0: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
}

func (b *builder) at(ms int) time.Time { return b.t0.Add(time.Duration(ms) * time.Millisecond) }

// cmd adds a committed command proposed at ms and delivered 5 ms later,
// placed in the log by its time (indexes are renumbered).
func (b *builder) cmd(ms int, typ api.EventType, txn, node string, attempt uint64, mods ...func(*history.Event)) {
	e := history.Event{Event: api.Event{Type: typ, Time: b.at(ms), Agent: "n1",
		Txn: txn, Node: node, Attempt: attempt}, Received: b.at(ms + 5)}
	for _, m := range mods {
		m(&e)
	}
	b.in.Commands = append(b.in.Commands, e)
	sort.SliceStable(b.in.Commands, func(i, j int) bool { return b.in.Commands[i].Time.Before(b.in.Commands[j].Time) })
	for i := range b.in.Commands {
		b.in.Commands[i].Index = uint64(i + 1)
	}
}

func rollback(e *history.Event) { e.Rollback = true }

func protocol(p int) func(*history.Event) { return func(e *history.Event) { e.Protocol = p } }

func (b *builder) hook(ms int, kind, hook, node, txn string, attempt uint64) {
	b.in.Hooks = append(b.in.Hooks, procs.HookEvent{Kind: kind, Hook: hook, Node: node, Txn: txn,
		Attempt: attempt, At: b.at(ms), Target: "2.0.0"})
}

func (b *builder) install(from, till int, node, txn string, attempt uint64) {
	b.hook(from, "begin", "install", node, txn, attempt)
	b.hook(till, "end", "install", node, txn, attempt)
}

func (b *builder) op(process, kind string, from, till int, typ history.Type, mods ...func(*history.Op)) {
	b.opID++
	op := history.Op{ID: b.opID, Process: process, Kind: kind, Via: history.ViaAPI, Node: "n2",
		Invoke: b.at(from), Complete: b.at(till), Type: typ}
	for _, m := range mods {
		m(&op)
	}
	b.in.Ops = append(b.in.Ops, op)
}

func consistent(o *history.Op) { o.Consistent = true }

func txnArg(id string) func(*history.Op) { return func(o *history.Op) { o.Txn = id } }

func result(id string, state api.TxnState) func(*history.Op) {
	return func(o *history.Op) { o.Results = []history.TxnView{{ID: id, State: state}}; o.Found = true }
}

func status(s int) func(*history.Op) { return func(o *history.Op) { o.Status = s } }

func code(c api.ErrorCode) func(*history.Op) { return func(o *history.Op) { o.Code = c } }

func (b *builder) final(id string, state api.TxnState, maxParallel int, onFailure string, steps ...api.Step) {
	b.in.Final = append(b.in.Final, api.Txn{ID: id, State: state, MaxParallel: maxParallel,
		OnFailure: onFailure, Steps: steps})
}

func doneStep(node string, attempt uint64) api.Step {
	return api.Step{Node: node, State: api.StepDone, Attempt: attempt}
}

// goodRun is a clean history: transaction t1 upgrades n2, n3, then (after a
// handoff from n1 to n2) n1, one at a time, and finalizes; clients read it
// consistently and one pause is refused after the end.
func goodRun() *builder {
	b := newBuilder()
	b.in.InitialProtocol = 1
	for _, n := range []string{"n1", "n2", "n3"} {
		b.in.Launches = append(b.in.Launches, history.Launch{Node: n, Version: "1.0.0", ProtocolMin: 1, ProtocolMax: 1, At: b.at(-1000)})
	}
	b.in.Tenures = []procs.Tenure{{Node: "n1", From: b.at(-500), Till: b.at(2900)}, {Node: "n2", From: b.at(2950)}}

	b.op("api-1", history.KindStart, 0, 20, history.OK, result("t1", "running"))
	b.cmd(10, api.EventTxnStart, "t1", "", 0)
	b.cmd(100, api.EventStepBegin, "t1", "n2", 1)
	b.install(120, 400, "n2", "t1", 1)
	b.cmd(500, api.EventStepComplete, "t1", "n2", 1)
	b.in.Acks = append(b.in.Acks, NoticeAck{Node: "n2", Txn: "t1", Attempt: 1, State: "done", At: b.at(510)})
	b.op("api-2", history.KindReadActive, 600, 650, history.OK, consistent, result("t1", "running"))
	b.cmd(1000, api.EventStepBegin, "t1", "n3", 1)
	b.install(1020, 1400, "n3", "t1", 1)
	b.cmd(1500, api.EventStepComplete, "t1", "n3", 1)
	b.cmd(1510, api.EventStepComplete, "t1", "n3", 1) // a repeated notice: accepted, no effect
	b.in.Acks = append(b.in.Acks, NoticeAck{Node: "n3", Txn: "t1", Attempt: 1, State: "done", At: b.at(1520)})
	b.cmd(3000, api.EventStepBegin, "t1", "n1", 1)
	b.install(3020, 3400, "n1", "t1", 1)
	b.cmd(3500, api.EventStepComplete, "t1", "n1", 1)
	b.op("api-2", history.KindRead, 3490, 3600, history.OK, consistent, txnArg("t1"), result("t1", "finalizing"))
	b.cmd(4000, api.EventTxnFinalize, "t1", "", 0, protocol(1))
	b.op("api-1", history.KindPause, 4100, 4150, history.Fail, txnArg("t1"), status(409), code(api.CodeConflict))
	b.op("api-2", history.KindRead, 4200, 4250, history.OK, consistent, txnArg("t1"), result("t1", "done"))
	b.op("api-3", history.KindList, 4300, 4350, history.OK, consistent, func(o *history.Op) {
		o.Results = []history.TxnView{{ID: "t1", State: "done"}}
	})
	b.final("t1", api.TxnDone, 1, api.OnFailureHalt, doneStep("n2", 1), doneStep("n3", 1), doneStep("n1", 1))
	b.in.Final[0].Strategy, b.in.Final[0].Ring = "ring", []string{"n2", "n3", "n1"} // one at a time: I9 holds
	serviceSwitch(b)                                                                // service_test.go: n1, the service's primary, hands it to n2 before its step
	gatewayTraffic(b)                                                               // gateway_test.go: clients through the gateway, n2 out of rotation during its step
	b.in.Healed = b.at(2000)
	b.in.SettleBound = 10 * time.Second
	b.in.End = b.at(5000)
	return b
}
