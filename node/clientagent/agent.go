// Package clientagent is a client agent (docs/clients.md): a member of a
// Baton cluster that holds no Raft state and has no API of its own. It
// registers with the servers, long-polls them for its steps (a fleet
// behind NAT or a firewall can only call out), runs them with the same
// executor and journal as a server agent, and sends their completion
// notices to the servers until acknowledged. Its polls renew its lease: a
// client that stops polling is recorded unreachable by the leader.
//
// Many agents may run in one process (cmd/batonfleet): each has its own
// data dir, journal and node key, and shares nothing with the others but
// the HTTP transport.
package clientagent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/executor"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
	"github.com/hashicorp/go-hclog"
)

// Config is what a client agent is started with.
type Config struct {
	// ID is the client's member id.
	ID string
	// DataDir holds its step journal, node key and artifacts.
	DataDir string
	// Servers are the API addresses of the servers it registers with and
	// polls (--join); it moves to the next one when one fails.
	Servers []string
	// Token is sent with every call.
	Token string
	// TLS, when set, makes the calls HTTPS, verifying the servers against
	// the CA and presenting this node's certificate (docs/tls.md).
	TLS *tls.Config
	// Hooks are the client's upgrade hooks.
	Hooks config.Hooks
	// Labels are free-form member labels.
	Labels map[string]string
	// BuildVersion is reported as its version when it has no version hook.
	BuildVersion string
	// Protocol is the range of protocol versions its build speaks.
	Protocol fsm.ProtocolRange
	// AllowHTTPArtifacts lets it fetch artifacts over plain http.
	AllowHTTPArtifacts bool
	// PollWait is how long a server may hold a poll with nothing to send
	// (DefaultPollWait when zero); the lease the servers keep is longer.
	PollWait time.Duration
	// SelfRestart re-executes the agent for the restart hook "self"; nil
	// refuses that hook (an in-process fleet).
	SelfRestart func() error
	// Logger defaults to a null logger.
	Logger hclog.Logger
}

// ErrRemoved stops a client that the servers no longer know: it was
// removed from the catalogue.
var ErrRemoved = errors.New("client removed")

// DefaultPollWait is how long a poll waits at the server for work.
const DefaultPollWait = 20 * time.Second

// attemptKey names one attempt.
type attemptKey struct {
	txn     string
	attempt uint64
}

// Agent is a running client agent.
type Agent struct {
	cfg    Config
	log    hclog.Logger
	key    nodeauth.Key
	exec   *executor.Executor
	jrnl   *journal.Journal
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// known are the attempts to report with each poll: those the servers
	// offered, running or finished with a notice not yet acknowledged.
	known map[attemptKey]bool
	// pending are completion notices not yet acknowledged.
	pending map[attemptKey]api.Notice
	wakeN   chan struct{}
	version string
	// server is the index in Servers of the server the agent calls now.
	server int

	registered chan struct{}
	fatal      chan error
}

// Start opens the client's journal and node key, resumes the attempts a
// previous run left unfinished, and starts registering, polling and
// sending notices until Stop.
func Start(cfg Config) (*Agent, error) {
	if err := fsm.ValidateID(cfg.ID); err != nil {
		return nil, fmt.Errorf("client id: %w", err)
	}
	if len(cfg.Servers) == 0 {
		return nil, errors.New("a client agent needs at least one server address (--join)")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("a client agent needs a data dir")
	}
	if cfg.PollWait <= 0 {
		cfg.PollWait = DefaultPollWait
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	k, created, err := nodeauth.LoadOrCreate(filepath.Join(cfg.DataDir, nodeauth.KeyFile))
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, key: k, known: map[attemptKey]bool{}, pending: map[attemptKey]api.Notice{},
		wakeN: make(chan struct{}, 1), registered: make(chan struct{}), fatal: make(chan error, 1)}
	if created {
		a.log.Info("node key created", "key", k.Public())
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	j, err := journal.Open(filepath.Join(cfg.DataDir, "journal.db"))
	if err != nil {
		return nil, fmt.Errorf("open step journal: %w", err)
	}
	a.jrnl = j
	a.exec = executor.New(executor.Options{NodeID: cfg.ID, Hooks: cfg.Hooks, Journal: j,
		ArtifactDir: filepath.Join(cfg.DataDir, "artifacts"), AllowHTTPArtifacts: cfg.AllowHTTPArtifacts,
		Logger: a.log, BuildVersion: cfg.BuildVersion, OnFinish: a.finished, SelfRestart: cfg.SelfRestart})
	unacked, err := a.exec.Unacked()
	if err != nil {
		a.close()
		return nil, fmt.Errorf("read unacknowledged notices: %w", err)
	}
	for _, st := range unacked {
		a.addNotice(st)
	}
	if err := a.exec.Resume(); err != nil {
		a.close()
		return nil, err
	}
	a.wg.Add(2)
	go a.sendNotices()
	go a.run()
	return a, nil
}

// ID is the client's member id.
func (a *Agent) ID() string { return a.cfg.ID }

// Registered is closed once the client's registration is committed.
func (a *Agent) Registered() <-chan struct{} { return a.registered }

// Fatal delivers the error that stopped the agent: a registration the
// servers refused for good.
func (a *Agent) Fatal() <-chan error { return a.fatal }

// Stop stops the agent: its polls end, a running hook is killed and its
// attempt stays unfinished in the journal (the next start resumes it, and
// does not run the killed hook again), and it returns when every goroutine
// has.
func (a *Agent) Stop() {
	a.cancel()
	a.wg.Wait()
	a.close()
}

func (a *Agent) close() {
	a.exec.Close()
	_ = a.jrnl.Close()
}

// client is a client of the server the agent calls now, signing as this
// node.
func (a *Agent) client() (*api.Client, int) {
	a.mu.Lock()
	i := a.server
	a.mu.Unlock()
	c := api.NewClientTLS(a.cfg.Servers[i%len(a.cfg.Servers)], a.cfg.Token, a.cfg.TLS).WithHook(a.sign)
	return c, i
}

// next moves to the next server after the one at index i failed.
func (a *Agent) next(i int) {
	a.mu.Lock()
	if a.server == i {
		a.server = i + 1
	}
	a.mu.Unlock()
}

func (a *Agent) sign(req *http.Request, body []byte) {
	req.Header.Set(nodeauth.Header, a.key.Sign(a.cfg.ID, time.Now(), req.Method, req.URL.RequestURI(), body))
}

// run registers the client, then polls until the agent stops.
func (a *Agent) run() {
	defer a.wg.Done()
	if err := a.register(); err != nil {
		if a.ctx.Err() == nil {
			a.fatal <- err
		}
		return
	}
	close(a.registered)
	backoff := 100 * time.Millisecond
	for a.ctx.Err() == nil {
		if err := a.poll(); err != nil {
			if a.ctx.Err() != nil {
				return
			}
			if errors.Is(err, api.ErrNotFound) {
				// Registered, and now unknown: an operator removed this
				// client (baton members remove). It stops rather than
				// register again behind the operator's back.
				a.fatal <- fmt.Errorf("%w: this client is no longer in the catalogue (removed); start it again to register anew: %v", ErrRemoved, err)
				return
			}
			a.log.Debug("poll failed; trying the next server", "error", err)
			if !sleep(a.ctx, &backoff) {
				return
			}
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

// register commits the client's record, retrying across the servers until
// one answers. Like a server agent's, the registration is sent with no
// step running and every notice acknowledged, so the version it carries
// is never older than one a notice told the catalogue. A refusal for good
// (a conflicting id, another key on record, a protocol the cluster does
// not speak) is returned.
func (a *Agent) register() error {
	backoff := 100 * time.Millisecond
	for {
		c, i := a.client()
		wctx, cancel := context.WithTimeout(a.ctx, 2*time.Second)
		var reg api.Member
		err := a.exec.WhileIdle(wctx, func() error {
			if a.noticeCount() > 0 {
				return errors.New("completion notices not yet acknowledged")
			}
			v, verr := a.readVersion()
			if verr != nil {
				a.log.Warn("version hook failed; registering the version last known", "error", verr)
			}
			rctx, rcancel := context.WithTimeout(a.ctx, 15*time.Second)
			defer rcancel()
			var err error
			reg, err = c.RegisterClient(rctx, api.ClientRegistration{ID: a.cfg.ID, Version: v,
				Protocol: api.ProtocolRange{Min: a.cfg.Protocol.Min, Max: a.cfg.Protocol.Max},
				Labels:   a.cfg.Labels, NodeKey: a.key.Public()})
			return err
		})
		cancel()
		if err == nil {
			a.log.Info("client registered", "version", reg.Version)
			return nil
		}
		var apiErr *api.APIError
		if errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500 && !errors.Is(err, api.ErrNoLeader) &&
			!errors.Is(err, api.ErrTooManyRequests) {
			return fmt.Errorf("registration refused: %w", err)
		}
		a.log.Debug("registration not yet possible", "error", err)
		a.next(i)
		if !sleep(a.ctx, &backoff) {
			return a.ctx.Err()
		}
	}
}

// readVersion runs the version hook (or takes the build's version).
func (a *Agent) readVersion() (string, error) {
	ctx, cancel := context.WithTimeout(a.ctx, a.exec.Hooks().EffectiveTimeout())
	defer cancel()
	v, err := a.exec.CurrentVersion(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		return a.version, err
	}
	a.version = v
	return v, nil
}

// poll asks the servers once for work and carries it out.
func (a *Agent) poll() error {
	c, i := a.client()
	req := api.PollRequest{Steps: a.reports(), WaitMillis: a.cfg.PollWait.Milliseconds()}
	a.mu.Lock()
	req.Version = a.version
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(a.ctx, a.cfg.PollWait+15*time.Second)
	resp, err := c.PollClient(ctx, a.cfg.ID, req)
	cancel()
	if err != nil {
		a.next(i)
		return err
	}
	for _, s := range resp.Steps {
		a.take(s)
	}
	for _, o := range resp.Cancels {
		a.cancelAttempt(o)
	}
	return nil
}

// take starts a step the servers offered, unless its attempt is already
// in the journal (at most once: the journal is the record of what began).
func (a *Agent) take(s api.StepRequest) {
	if s.Node != a.cfg.ID {
		a.log.Warn("poll answered with a step for another node; ignored", "node", s.Node)
		return
	}
	k := attemptKey{s.TxnID, s.Attempt}
	if _, ok := a.exec.Status(s.TxnID, s.Attempt); ok {
		a.remember(k)
		return
	}
	_, err := a.exec.Start(executor.Step{TxnID: s.TxnID, Node: s.Node, Attempt: s.Attempt, TargetVersion: s.TargetVersion,
		FromVersion: s.FromVersion, ArtifactURL: s.ArtifactURL, ArtifactSHA256: s.ArtifactSHA256,
		ProtocolVersion: s.ProtocolVersion, Rollback: s.Rollback})
	if err != nil {
		// Not taken (busy with another attempt, or invalid): not
		// reported, so the leader offers it again later.
		a.log.Warn("offered step not started", "txn", s.TxnID, "attempt", s.Attempt, "error", err)
		return
	}
	a.remember(k)
	a.log.Info("step started", "txn", s.TxnID, "attempt", s.Attempt, "target", s.TargetVersion, "rollback", s.Rollback)
}

func (a *Agent) remember(k attemptKey) {
	a.mu.Lock()
	a.known[k] = true
	a.mu.Unlock()
}

func (a *Agent) cancelAttempt(o api.CancelOrder) {
	if _, err := a.exec.Cancel(o.TxnID, o.Attempt, o.Reason); err != nil && !errors.Is(err, executor.ErrNotFound) {
		a.log.Warn("cancel failed", "txn", o.TxnID, "attempt", o.Attempt, "error", err)
	}
}

// reports are the statuses of the attempts the client knows of; an
// attempt finished with its notice acknowledged is forgotten.
func (a *Agent) reports() []api.StepStatus {
	a.mu.Lock()
	keys := make([]attemptKey, 0, len(a.known))
	for k := range a.known {
		keys = append(keys, k)
	}
	a.mu.Unlock()
	out := make([]api.StepStatus, 0, len(keys))
	for _, k := range keys {
		st, ok := a.exec.Status(k.txn, k.attempt)
		a.mu.Lock()
		_, unacked := a.pending[k]
		if !ok || (st.State != api.StepRunning && !unacked) {
			delete(a.known, k)
			a.mu.Unlock()
			continue
		}
		a.mu.Unlock()
		out = append(out, api.StepStatus{TxnID: st.TxnID, Node: a.cfg.ID, Attempt: st.Attempt, State: st.State,
			Hook: st.Hook, Version: st.Version, Error: st.Error})
	}
	return out
}

// finished hands a finished attempt's notice to the sender.
func (a *Agent) finished(_ executor.Step, st executor.Status) {
	a.addNotice(st)
	if st.Version != "" {
		a.mu.Lock()
		a.version = st.Version
		a.mu.Unlock()
	}
}

func (a *Agent) addNotice(st executor.Status) {
	n := api.Notice{TxnID: st.TxnID, Node: a.cfg.ID, Attempt: st.Attempt, State: st.State, Version: st.Version, Error: st.Error}
	a.mu.Lock()
	a.pending[attemptKey{st.TxnID, st.Attempt}] = n
	a.mu.Unlock()
	select {
	case a.wakeN <- struct{}{}:
	default:
	}
}

func (a *Agent) noticeCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending)
}

// PendingNotices is the number of completion notices not yet acknowledged.
func (a *Agent) PendingNotices() int { return a.noticeCount() }

// sendNotices sends every pending completion notice to the servers (any
// one: it forwards to the leader) until one acknowledges it: committed, or
// refused for good (a 4xx but 401 and 403, which judge the credentials and
// not the notice). An acknowledged notice is marked in the journal; one
// not yet acknowledged is in the journal and sent again after a restart.
func (a *Agent) sendNotices() {
	defer a.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		a.mu.Lock()
		batch := make([]api.Notice, 0, len(a.pending))
		for _, n := range a.pending {
			batch = append(batch, n)
		}
		a.mu.Unlock()
		failed := false
		for _, n := range batch {
			c, i := a.client()
			ctx, cancel := context.WithTimeout(a.ctx, 15*time.Second)
			err := c.Notice(ctx, n)
			cancel()
			var apiErr *api.APIError
			forGood := err != nil && errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500 &&
				!errors.Is(err, api.ErrUnauthorized) && !errors.Is(err, api.ErrForbidden) && !errors.Is(err, api.ErrNoLeader) &&
				!errors.Is(err, api.ErrTooManyRequests)
			if err != nil && !forGood {
				if a.ctx.Err() != nil {
					return
				}
				a.log.Debug("completion notice not yet delivered", "txn", n.TxnID, "attempt", n.Attempt, "error", err)
				a.next(i)
				failed = true
				continue
			}
			if err != nil {
				a.log.Warn("completion notice refused", "txn", n.TxnID, "attempt", n.Attempt, "error", err)
			} else {
				a.log.Info("completion notice acknowledged", "txn", n.TxnID, "attempt", n.Attempt, "state", n.State)
			}
			if err := a.exec.MarkAcked(n.TxnID, n.Attempt); err != nil {
				a.log.Warn("journal: mark notice acknowledged", "error", err)
			}
			a.mu.Lock()
			delete(a.pending, attemptKey{n.TxnID, n.Attempt})
			a.mu.Unlock()
		}
		wait := time.Hour
		if failed {
			wait, backoff = backoff, min(2*backoff, 2*time.Second)
		} else {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-a.ctx.Done():
			return
		case <-a.wakeN:
		case <-time.After(wait):
		}
	}
}

// sleep waits *backoff, doubling it up to 2 s, and reports whether ctx
// lasted.
func sleep(ctx context.Context, backoff *time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(*backoff):
	}
	*backoff = min(*backoff*2, 2*time.Second)
	return true
}
