package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/baton-upgrade/baton/node/tlsnet"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// raftParts are the pieces Raft runs on, kept so Shutdown can close them.
type raftParts struct {
	raft      *raft.Raft
	store     *raftboltdb.BoltStore
	transport *raft.NetworkTransport
	existing  bool // the data directory held Raft state at start
}

func (a *Agent) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(a.cfg.ID)
	m := a.cfg.RaftMultiplier
	rc.HeartbeatTimeout = scale(rc.HeartbeatTimeout, m)
	rc.ElectionTimeout = scale(rc.ElectionTimeout, m)
	rc.LeaderLeaseTimeout = scale(rc.LeaderLeaseTimeout, m)
	rc.CommitTimeout = scale(rc.CommitTimeout, m)
	a.cfg.Snapshots.apply(rc)
	rc.Logger = a.log.Named("raft")
	rc.NotifyCh = a.leaderNotify
	// Only the labelled metrics: the legacy ones put peer ids into names.
	rc.NoLegacyTelemetry = true
	return rc
}

func (a *Agent) startRaft() (*raftParts, error) {
	if err := os.MkdirAll(a.cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(a.cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("open raft store %s (is another agent using this data dir?): %w", a.cfg.DataDir, err)
	}
	parts := &raftParts{store: store}
	guarded := &guardedStore{s: store, path: filepath.Join(a.cfg.DataDir, raftDBFile), onFail: a.storeFailed}
	ok := false
	defer func() {
		if !ok {
			parts.close()
		}
	}()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(a.cfg.DataDir, 3, a.log.Named("snapshot"))
	if err != nil {
		return nil, fmt.Errorf("open snapshot store: %w", err)
	}
	advertise, err := net.ResolveTCPAddr("tcp", a.cfg.RaftAddr)
	if err != nil {
		return nil, fmt.Errorf("resolve --raft-addr %s: %w", a.cfg.RaftAddr, err)
	}
	var admission peerAdmission
	parts.transport, err = newTransport(a.cfg.RaftAddr, advertise, a.cfg.TLS, &admission, a.log.Named("transport"))
	if err != nil {
		return nil, fmt.Errorf("listen on --raft-addr %s: %w", a.cfg.RaftAddr, err)
	}
	parts.existing, err = raft.HasExistingState(guarded, guarded, snaps)
	if err != nil {
		return nil, fmt.Errorf("read raft state: %w", err)
	}
	rc := a.raftConfig()
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raft config: %w", err)
	}
	parts.raft, err = raft.NewRaft(rc, a.fsm, guarded, guarded, snaps, parts.transport)
	if err != nil && parts.existing && strings.Contains(err.Error(), "snapshot") {
		// Raft tries every local snapshot, newest first, and fails only
		// when none restores (each failure is logged above this error).
		return nil, fmt.Errorf("%w: start raft: %w: no snapshot in %s restores (a damaged or crafted snapshot; the log lines "+
			"\"failed to restore snapshot\" say why). Put the data dir back from a backup, or remove the member "+
			"(baton members remove %s --force), empty --data-dir and join it afresh",
			ErrDamagedStore, err, filepath.Join(a.cfg.DataDir, "snapshots"), a.cfg.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	admission.raft.Store(parts.raft)
	if a.cfg.Bootstrap && !parts.existing {
		cfg := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: parts.transport.LocalAddr(),
		}}}
		if err := parts.raft.BootstrapCluster(cfg).Error(); err != nil {
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
	}
	ok = true
	return parts, nil
}

// close shuts Raft down and closes the stores. Raft's Shutdown does not close
// the log store, and bbolt's file lock would stall a restart in the same
// process.
func (p *raftParts) close() error {
	var first error
	if p.raft != nil {
		if err := p.raft.Shutdown().Error(); err != nil {
			first = err
		}
	}
	if p.transport != nil {
		_ = p.transport.Close()
	}
	if p.store != nil {
		if err := p.store.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// newTransport is Raft's TCP transport with pipelined replication turned
// off (MaxRPCsInFlight 1: every append is a plain request and response).
// hashicorp/raft v1.7.3's pipeline can deadlock after a follower rejects an
// append: its send loop parks on inprogressCh while decodeResponses parks on
// doneCh, so replicate() never returns. The follower then gets heartbeats
// but never another entry, and when the leader steps down or stops, its
// Shutdown waits forever for that goroutine (the chaos suite saw agents
// ignore SIGTERM this way). Synchronous appends cost Baton nothing that
// matters: its commands are few and small.
//
// With ident set the transport runs over mutual TLS (tlsnet.StreamLayer):
// only peers with a node certificate the CA signed are served, and of
// those only the ones admission admits.
func newTransport(bind string, advertise net.Addr, ident *tlsnet.Identity, admission *peerAdmission,
	logger hclog.Logger) (*raft.NetworkTransport, error) {
	cfg := raft.NetworkTransportConfig{MaxPool: 3, Timeout: 10 * time.Second, Logger: logger, MaxRPCsInFlight: 1}
	if ident == nil {
		return raft.NewTCPTransportWithConfig(bind, advertise, &cfg)
	}
	stream, err := tlsnet.NewStreamLayer(bind, advertise, ident, logger)
	if err != nil {
		return nil, err
	}
	if admission != nil {
		stream.SetAdmission(admission.admit)
	}
	return tlsnet.NewTransport(stream, cfg), nil
}

// peerAdmission decides which Raft peers with a node certificate of the CA
// an agent serves: those whose certificate names a server of its Raft
// configuration. A node whose configuration is still empty (it has not
// joined yet) serves any, since the leader that admits it is not known to
// it until that leader's first append. So a removed member, or a node the
// CA signed that never joined, cannot send Raft RPCs to the members.
type peerAdmission struct {
	raft atomic.Pointer[raft.Raft]
}

func (p *peerAdmission) admit(name string) error {
	r := p.raft.Load()
	if r == nil {
		return errors.New("raft is not running yet")
	}
	return admitPeer(r.GetConfiguration().Configuration(), name)
}

// admitPeer is nil when name is a server of cfg, or cfg has none.
func admitPeer(cfg raft.Configuration, name string) error {
	if len(cfg.Servers) == 0 {
		return nil
	}
	for _, s := range cfg.Servers {
		if string(s.ID) == name {
			return nil
		}
	}
	return fmt.Errorf("not a server of this cluster's Raft configuration")
}
