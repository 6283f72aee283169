package coordinator

import (
	"context"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/go-hclog"
)

// Cluster is everything the coordinator needs from the local agent: the
// replicated state, the Raft operations it drives, and who this agent is.
// node.Agent implements it; the tests use an in-process fake. Every
// dependency sits here, so the fakes exercise every path the real agent
// takes.
type Cluster interface {
	// ID is this agent's member id.
	ID() string
	// Self is this agent's catalogue record as the build now running would
	// register it. Finalize compares its protocol range with the
	// catalogue's, so that a leader restarted into another build does not
	// finalize on the range of the build it ran before.
	Self() fsm.Member
	// FSM is the local state machine.
	FSM() *fsm.FSM
	// Leader returns the Raft leader's id and API address as far as this
	// agent knows, or empty strings when it knows none.
	Leader() (id, httpAddr string)
	// Barrier waits until every entry committed before it is applied to the
	// local state machine. It fails unless this agent leads, or when ctx
	// ends first; the state read after a failed barrier may be behind.
	Barrier(ctx context.Context) error
	// Apply commits a command and waits until it is applied (leader only).
	// It returns the entry's index or the state machine's rejection; an
	// error wrapping rpc.ErrNoLeader means nothing was proposed, one
	// wrapping api.ErrUnknownOutcome that the entry may still commit.
	Apply(ctx context.Context, t fsm.CommandType, body any) (uint64, error)
	// TransferLeadership hands leadership to the voter to and returns the
	// new leader's id (leader only). An error means the transfer failed or
	// its outcome is unknown: this agent may or may not still lead.
	TransferLeadership(ctx context.Context, to string) (string, error)
	// LastIndex is the last index of the local Raft log.
	LastIndex() uint64
}

// Nodes calls other agents. An error that is an *api.APIError is the
// node's answer (api.ErrNotFound: it never heard of the attempt, or, from
// a build that predates the route, does not have it); any other error means
// no answer.
type Nodes interface {
	RunStep(ctx context.Context, httpAddr string, req api.StepRequest) (api.StepStatus, error)
	StepStatus(ctx context.Context, httpAddr, txnID string, attempt uint64) (api.StepStatus, error)
	// Diagnostic probes a node; its health hook runs only when health is
	// true.
	Diagnostic(ctx context.Context, httpAddr string, health bool) (api.Diagnostic, error)
	// CancelStep asks a node to stop an attempt (protocol 3): its running
	// hook is terminated and the attempt ends failed with reason, which the
	// node reports in its notice. An attempt already finished is left as
	// it was.
	CancelStep(ctx context.Context, httpAddr, txnID string, attempt uint64, reason string) (api.StepStatus, error)
	// NodeStepLogs asks a node for the hook output of every attempt of
	// txnID it ran, oldest first (protocol 3).
	NodeStepLogs(ctx context.Context, httpAddr, txnID string) ([]api.StepLogs, error)
	// ServiceNodes runs the service-role hooks (switchover_nodes.go).
	ServiceNodes
}

// Options tune a Coordinator; zero fields take the defaults.
type Options struct {
	// Weights are S4's idle weights for choosing a successor.
	Weights IdleWeights
	// MaxLag is how many log entries a successor may lag behind (S5).
	MaxLag uint64
	// HandoffPatience is how long the coordinator retries finding a
	// successor before it pauses the transaction.
	HandoffPatience time.Duration
	// ReconcileInterval is how often running steps are checked with their
	// nodes, as a safety net for lost notices.
	ReconcileInterval time.Duration
	// CallTimeout bounds one call to another agent.
	CallTimeout time.Duration
	// DefaultStepTimeout and DefaultProgressDeadline apply when a start
	// request gives none.
	DefaultStepTimeout      time.Duration
	DefaultProgressDeadline time.Duration
	// AllowHTTPArtifacts lets a start name an artifact by a plain http URL;
	// without it only https is accepted (the agent's
	// --allow-http-artifacts).
	AllowHTTPArtifacts bool
	// GatewayTTL is how long a registered gateway may go without a report
	// before the leader expires it (--gateway-ttl); DefaultGatewayTTL by
	// default.
	GatewayTTL time.Duration
	// GatewayWait bounds the wait, after each step.begin, for every
	// registered gateway to have seen it (--gateway-wait);
	// DefaultGatewayWait by default.
	GatewayWait time.Duration
	// Now is the leader's clock; time.Now by default.
	Now func() time.Time
	// Logger receives the coordinator's decisions.
	Logger hclog.Logger
	// Metrics receives its counters and timings; the process's go-metrics
	// global sink by default.
	Metrics Metrics
}

func (o *Options) defaults() {
	if o.Weights == (IdleWeights{}) {
		o.Weights = DefaultIdleWeights
	}
	if o.MaxLag == 0 {
		o.MaxLag = 64
	}
	if o.HandoffPatience == 0 {
		o.HandoffPatience = 30 * time.Second
	}
	if o.ReconcileInterval == 0 {
		o.ReconcileInterval = 5 * time.Second
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 5 * time.Second
	}
	if o.DefaultStepTimeout == 0 {
		o.DefaultStepTimeout = 10 * time.Minute
	}
	if o.DefaultProgressDeadline == 0 {
		o.DefaultProgressDeadline = 30 * time.Minute
	}
	if o.GatewayTTL == 0 {
		o.GatewayTTL = DefaultGatewayTTL
	}
	if o.GatewayWait == 0 {
		o.GatewayWait = DefaultGatewayWait
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Metrics == nil {
		o.Metrics = globalMetrics{}
	}
}

// Coordinator drives the active transaction while this agent leads, and
// serves the transaction API (rpc.Upgrades) on the leader.
type Coordinator struct {
	c    Cluster
	n    Nodes
	opts Options
	log  hclog.Logger
	// gateways is the leader's memory of the gateways' reports
	// (gateways.go).
	gateways *gatewayTable
}

// New returns a coordinator over the local agent c, calling other agents
// through n.
func New(c Cluster, n Nodes, opts Options) *Coordinator {
	opts.defaults()
	return &Coordinator{c: c, n: n, opts: opts, log: opts.Logger.Named("coordinator"), gateways: newGatewayTable()}
}

var (
	_ rpc.Upgrades = (*Coordinator)(nil)
	_ rpc.Ring     = (*Coordinator)(nil)
)
