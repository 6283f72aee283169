package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// fakeCluster is a single in-process state machine that applies commands at
// once; TransferLeadership just renames the leader. Its fields let a test
// make each dependency fail or observe it.
type fakeCluster struct {
	mu        sync.Mutex
	id        string
	f         *fsm.FSM
	idx       uint64
	now       time.Time
	transfers []string
	// transferErr, when set, fails every TransferLeadership, which then
	// changes nothing.
	transferErr error
	// applyErr fails Apply for a command type, before anything is applied.
	applyErr map[fsm.CommandType]error
	// barriers counts Barrier calls; barrierErr fails them; onBarrier runs
	// inside a barrier that succeeds, standing for the entries it waits
	// for (committed by an earlier leader, applied only now).
	barriers   int
	barrierErr error
	onBarrier  func()
	// selfProtocol, when set for this agent's id, is the protocol range of
	// the build it runs, which Self reports instead of the catalogue's.
	selfProtocol map[string]fsm.ProtocolRange
}

func newFakeCluster(t *testing.T, leader string, members ...fsm.Member) *fakeCluster {
	t.Helper()
	return newFakeClusterAt(t, 1, leader, members...)
}

// newFakeClusterAt is a fake cluster whose active protocol is protocol;
// its members must speak it (see membersAt).
func newFakeClusterAt(t *testing.T, protocol int, leader string, members ...fsm.Member) *fakeCluster {
	t.Helper()
	c := &fakeCluster{id: leader, f: fsm.New(protocol), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		applyErr: map[fsm.CommandType]error{}, selfProtocol: map[string]fsm.ProtocolRange{}}
	for _, m := range members {
		_, err := c.Apply(context.Background(), fsm.CmdMemberJoin, fsm.MemberJoin{Member: m})
		require.NoError(t, err)
	}
	return c
}

func (c *fakeCluster) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// Self is this agent's catalogue record, with the protocol range of the
// build it runs when the test set one.
func (c *fakeCluster) Self() fsm.Member {
	id := c.ID()
	var m fsm.Member
	c.f.View(func(s *fsm.State) { m = s.Members[id] })
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.selfProtocol[id]; ok {
		m.Protocol = p
	}
	return m
}

// Leader is this agent: the fake is always the leader it names.
func (c *fakeCluster) Leader() (string, string) {
	id := c.ID()
	var addr string
	c.f.View(func(s *fsm.State) { addr = s.Members[id].HTTPAddr })
	return id, addr
}

func (c *fakeCluster) Barrier(context.Context) error {
	c.mu.Lock()
	c.barriers++
	err, hook := c.barrierErr, c.onBarrier
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if hook != nil {
		hook()
	}
	return nil
}

func (c *fakeCluster) FSM() *fsm.FSM     { return c.f }
func (c *fakeCluster) LastIndex() uint64 { return c.f.Read().Index }
func (c *fakeCluster) clock() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
func (c *fakeCluster) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeCluster) Apply(_ context.Context, t fsm.CommandType, body any) (uint64, error) {
	c.mu.Lock()
	if err := c.applyErr[t]; err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.idx++
	idx, now := c.idx, c.now
	c.mu.Unlock()
	b, err := fsm.Encode(t, 1, now, body)
	if err != nil {
		return 0, err
	}
	res := c.f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b}).(*fsm.Result)
	return res.Index, res.Err
}

func (c *fakeCluster) TransferLeadership(_ context.Context, to string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.transferErr != nil {
		return "", c.transferErr
	}
	c.transfers = append(c.transfers, to)
	c.id = to
	return to, nil
}

var _ Cluster = (*fakeCluster)(nil)

// fakeNodes records steps sent and answers probes from a table.
type fakeNodes struct {
	mu       sync.Mutex
	sent     []api.StepRequest
	down     map[string]bool // addr -> unreachable
	unhealth map[string]bool // addr -> health hook failing
	version  map[string]string
	known    map[string]api.StepStatus // "addr/txn/attempt"
	checks   int                       // StepStatus calls
	// healthChecks counts diagnostics that ran the health hook.
	healthChecks int
	// cancels records every CancelStep call; cancelErr answers one to an
	// address with an error (a *api.APIError is the node's answer).
	cancels   []cancelCall
	cancelErr map[string]error
	// logs answers NodeStepLogs by address.
	logs map[string][]api.StepLogs
	// idle, when set for an address, is its idle CPU and memory share
	// (0.5 otherwise).
	idle map[string]float64
	// svc is the fake service behind the service routes
	// (switchover_fakes_test.go); nil answers as nodes without hooks.
	svc *fakeService
}

// cancelCall is one CancelStep call as a fake node received it.
type cancelCall struct {
	addr, txn string
	attempt   uint64
	reason    string
}

func newFakeNodes() *fakeNodes {
	return &fakeNodes{down: map[string]bool{}, unhealth: map[string]bool{}, version: map[string]string{}, known: map[string]api.StepStatus{},
		cancelErr: map[string]error{}, logs: map[string][]api.StepLogs{}}
}

func (n *fakeNodes) CancelStep(_ context.Context, addr, txn string, attempt uint64, reason string) (api.StepStatus, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cancels = append(n.cancels, cancelCall{addr, txn, attempt, reason})
	if n.down[addr] {
		return api.StepStatus{}, errDown
	}
	if err := n.cancelErr[addr]; err != nil {
		return api.StepStatus{}, err
	}
	st := n.known[fmt.Sprintf("%s/%s/%d", addr, txn, attempt)]
	return st, nil
}

func (n *fakeNodes) NodeStepLogs(_ context.Context, addr, txn string) ([]api.StepLogs, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down[addr] {
		return nil, errDown
	}
	logs, ok := n.logs[addr]
	if !ok {
		return nil, &api.APIError{Status: 404, Code: api.CodeNotFound, Message: "not found: no route GET /v1/internal/steps/" + txn + "/logs"}
	}
	return logs, nil
}

// cancelCalls returns the CancelStep calls so far.
func (n *fakeNodes) cancelCalls() []cancelCall {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]cancelCall(nil), n.cancels...)
}

var errDown = errors.New("connection refused")

func (n *fakeNodes) RunStep(_ context.Context, addr string, req api.StepRequest) (api.StepStatus, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down[addr] {
		return api.StepStatus{}, errDown
	}
	n.sent = append(n.sent, req)
	st := api.StepStatus{TxnID: req.TxnID, Node: req.Node, Attempt: req.Attempt, State: api.StepRunning}
	n.known[fmt.Sprintf("%s/%s/%d", addr, req.TxnID, req.Attempt)] = st
	return st, nil
}

func (n *fakeNodes) StepStatus(_ context.Context, addr, txn string, attempt uint64) (api.StepStatus, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.checks++
	if n.down[addr] {
		return api.StepStatus{}, errDown
	}
	st, ok := n.known[fmt.Sprintf("%s/%s/%d", addr, txn, attempt)]
	if !ok {
		return st, &api.APIError{Status: 404, Message: "unknown attempt"}
	}
	return st, nil
}

func (n *fakeNodes) Diagnostic(_ context.Context, addr string, health bool) (api.Diagnostic, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if health {
		n.healthChecks++
	}
	if n.down[addr] {
		return api.Diagnostic{}, errDown
	}
	idle := 0.5
	if v, ok := n.idle[addr]; ok {
		idle = v
	}
	return api.Diagnostic{ID: addr, Healthy: !n.unhealth[addr], AppliedIndex: 1 << 40, Version: n.version[addr], IdleCPU: idle, IdleMem: idle,
		ServiceHooks: n.svc.hooksOf(addr)}, nil
}

func (n *fakeNodes) sentNodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, r := range n.sent {
		out = append(out, fmt.Sprintf("%s#%d", r.Node, r.Attempt))
	}
	return out
}

// members returns n voters n1..n with their API address equal to their id,
// so the fakes can key on either.
func members(n int) []fsm.Member { return membersAt(n, 1) }

// membersAt returns n voters as members does, speaking protocols 1 to
// protocol.
func membersAt(n, protocol int) []fsm.Member {
	var out []fsm.Member
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		out = append(out, fsm.Member{ID: id, RaftAddr: fmt.Sprintf("127.0.0.1:%d", 7000+i), HTTPAddr: id + ":80",
			Version: "1.0.0", Voter: true, Protocol: fsm.ProtocolRange{Min: 1, Max: protocol}})
	}
	return out
}

// fakeMetrics records counters and timings by their dotted key.
type fakeMetrics struct {
	mu       sync.Mutex
	counters map[string]float32
	timings  map[string]int
}

func newFakeMetrics() *fakeMetrics {
	return &fakeMetrics{counters: map[string]float32{}, timings: map[string]int{}}
}

func (m *fakeMetrics) IncrCounter(key []string, val float32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counters[strings.Join(key, ".")] += val
}

func (m *fakeMetrics) MeasureSince(key []string, _ time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.timings[strings.Join(key, ".")]++
}

// counter returns the value of counter key.
func (m *fakeMetrics) counter(key string) float32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counters[key]
}

// timed returns how many timings key recorded.
func (m *fakeMetrics) timed(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.timings[key]
}

// logRecord is one line of the coordinator's log.
type logRecord struct {
	Level   string `json:"@level"`
	Message string `json:"@message"`
	Error   string `json:"error"`
}

// logCapture is a logger whose lines a test can read back.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logCapture) logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: l, Level: hclog.Debug, JSONFormat: true})
}

// records returns the lines logged since the last reset whose message
// starts with prefix.
func (l *logCapture) records(t *testing.T, prefix string) []logRecord {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r logRecord
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		if strings.HasPrefix(r.Message, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// reset forgets every line logged so far.
func (l *logCapture) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}
