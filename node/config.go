package node

import (
	"fmt"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/tlsnet"
	"github.com/hashicorp/go-hclog"
)

// Config is what an agent is started with.
type Config struct {
	// ID is this member's unique id; it is also its Raft server id.
	ID string
	// DataDir holds the Raft log, stable store, snapshots and step journal.
	DataDir string
	// RaftAddr is the TCP address Raft listens on and advertises.
	RaftAddr string
	// HTTPAddr is the address of this agent's API, recorded in the catalogue
	// so that other agents can forward writes to the leader.
	HTTPAddr string
	// Bootstrap starts a new cluster with this node as its only voter. It is
	// ignored when the data directory already holds Raft state.
	Bootstrap bool
	// OnStoreFailure, when set, is called with the error of a write or
	// fsync the disk refused (ErrStoreFailed), before the error reaches
	// Fatal. The command exits there, at once: nothing more should touch
	// the stores, and Raft's own reaction (a failed term write panics)
	// must not run first.
	OnStoreFailure func(error)
	// AllowStateLoss lets an agent whose data dir shows it ran before
	// (its identity marker) start although its Raft state or step journal
	// is missing: the operator accepts that it rejoins with what is left
	// and that the journal's record of steps already run is lost.
	// Without it, checkStores refuses to start (ErrStateLost).
	AllowStateLoss bool
	// Join lists API addresses of members to ask for admission. Ignored when
	// the data directory already holds Raft state.
	Join []string
	// Token is sent with this agent's own writes to other agents.
	Token string
	// TLS, when set, is this node's certificate: Raft then speaks mutual
	// TLS, and the agent calls other agents' APIs over HTTPS presenting it
	// (docs/tls.md). Nil speaks plain TCP and HTTP.
	TLS *tlsnet.Identity
	// Version is the version this node reports for itself: its version
	// hook's output, or else BuildVersion.
	Version string
	// BuildVersion is the version of this agent's own build.
	BuildVersion string
	// Protocol is the range of protocol versions this build speaks.
	Protocol fsm.ProtocolRange
	// Hooks are this node's upgrade hooks, from its local config file.
	Hooks config.Hooks
	// Labels are free-form member labels (zone, rack, role).
	Labels map[string]string
	// ServiceAddr is the HOST:PORT this node's service listens on, from
	// its config file; "" for none. The agent records it in the catalogue
	// (member.service) once the cluster speaks protocol 3.
	ServiceAddr string
	// AllowHTTPArtifacts lets this node fetch artifacts over plain http,
	// and, while it leads, lets a transaction name one; only https
	// otherwise (--allow-http-artifacts).
	AllowHTTPArtifacts bool
	// ArtifactMaxSize is the most bytes an artifact pushed to this server
	// may bring (--artifact-max-size); zero means DefaultArtifactMaxSize.
	ArtifactMaxSize int64
	// RaftMultiplier scales Raft's timeouts: 1 keeps hashicorp/raft's
	// defaults (1 s heartbeat and election timeouts); 0.2 makes failover
	// about five times faster at the cost of more false elections on a
	// loaded machine.
	RaftMultiplier float64
	// MaxVoters is how many members join as voters; later ones join as
	// non-voters. Zero means DefaultMaxVoters.
	MaxVoters int
	// Snapshots are Raft's snapshot and log compaction settings; a zero
	// field keeps hashicorp/raft's default.
	Snapshots SnapshotConfig
	// Logger receives every log line of the agent and of Raft.
	Logger hclog.Logger
}

// DefaultMaxVoters is the number of voters a cluster grows to before new
// members join as non-voters.
const DefaultMaxVoters = 5

func (c *Config) validate() error {
	if err := fsm.ValidateID(c.ID); err != nil {
		return fmt.Errorf("--id: %w", err)
	}
	if c.DataDir == "" {
		return fmt.Errorf("--data-dir is required")
	}
	if err := fsm.ValidateAddr("--raft-addr", c.RaftAddr); err != nil {
		return err
	}
	if err := fsm.ValidateAddr("--http-addr", c.HTTPAddr); err != nil {
		return err
	}
	if c.Bootstrap && len(c.Join) > 0 {
		return fmt.Errorf("--bootstrap and --join exclude each other: bootstrap starts a new cluster, join enters an existing one")
	}
	if err := fsm.ValidateServiceAddr(c.ServiceAddr); err != nil {
		return err
	}
	if err := fsm.ValidateProtocol(c.Protocol); err != nil {
		return err
	}
	if c.RaftMultiplier == 0 {
		c.RaftMultiplier = 1
	}
	if c.RaftMultiplier < 0.05 || c.RaftMultiplier > 20 {
		return fmt.Errorf("--raft-multiplier %v: want a value between 0.05 and 20", c.RaftMultiplier)
	}
	if c.BuildVersion == "" {
		c.BuildVersion = c.Version
	}
	if c.ArtifactMaxSize < 0 {
		return fmt.Errorf("--artifact-max-size %d: want a positive number of bytes", c.ArtifactMaxSize)
	}
	if c.MaxVoters == 0 {
		c.MaxVoters = DefaultMaxVoters
	}
	if err := c.Snapshots.validate(); err != nil {
		return err
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return nil
}

func scale(d time.Duration, m float64) time.Duration { return time.Duration(float64(d) * m) }
