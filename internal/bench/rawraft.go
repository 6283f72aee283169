package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// rawCluster is a bare hashicorp/raft cluster in this process, with the
// stores and transport Baton's agent uses, and a state machine that does
// nothing: the floor under every commit Baton makes.
type rawCluster struct {
	rafts      []*raft.Raft
	stores     []*raftboltdb.BoltStore
	transports []*raft.NetworkTransport
}

// countingFSM applies by counting.
type countingFSM struct{ n atomic.Uint64 }

func (f *countingFSM) Apply(*raft.Log) any { return f.n.Add(1) }
func (f *countingFSM) Snapshot() (raft.FSMSnapshot, error) {
	return emptySnapshot{}, nil
}
func (f *countingFSM) Restore(rc io.ReadCloser) error { return rc.Close() }

type emptySnapshot struct{}

func (emptySnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (emptySnapshot) Release()                             {}

// startRawRaft starts voters+nonvoters servers with Raft's default timings
// scaled by multiplier, bootstraps them, and waits for a leader.
func startRawRaft(ctx context.Context, dir string, voters, nonvoters int, multiplier float64) (*rawCluster, error) {
	rc := &rawCluster{}
	var servers []raft.Server
	total := voters + nonvoters
	for i := range total {
		if err := os.MkdirAll(rawRaftDir(dir, i), 0o750); err != nil {
			rc.close()
			return nil, err
		}
		store, err := raftboltdb.NewBoltStore(rawRaftDir(dir, i) + "/raft.db")
		if err != nil {
			rc.close()
			return nil, fmt.Errorf("raw raft store: %w", err)
		}
		rc.stores = append(rc.stores, store)
		tr, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 10*time.Second, hclog.NewNullLogger())
		if err != nil {
			rc.close()
			return nil, fmt.Errorf("raw raft transport: %w", err)
		}
		rc.transports = append(rc.transports, tr)
		suffrage := raft.Voter
		if i >= voters {
			suffrage = raft.Nonvoter
		}
		servers = append(servers, raft.Server{Suffrage: suffrage, ID: raft.ServerID(fmt.Sprintf("r%d", i)), Address: tr.LocalAddr()})
	}
	for i := range total {
		conf := raft.DefaultConfig()
		conf.LocalID = servers[i].ID
		conf.Logger = hclog.NewNullLogger()
		conf.HeartbeatTimeout = scaleDuration(conf.HeartbeatTimeout, multiplier)
		conf.ElectionTimeout = scaleDuration(conf.ElectionTimeout, multiplier)
		conf.LeaderLeaseTimeout = scaleDuration(conf.LeaderLeaseTimeout, multiplier)
		conf.CommitTimeout = scaleDuration(conf.CommitTimeout, multiplier)
		r, err := raft.NewRaft(conf, &countingFSM{}, rc.stores[i], rc.stores[i], raft.NewInmemSnapshotStore(), rc.transports[i])
		if err != nil {
			rc.close()
			return nil, fmt.Errorf("raw raft: %w", err)
		}
		rc.rafts = append(rc.rafts, r)
		// Voters bootstrap with the whole configuration; non-voters cannot,
		// and learn it from the leader.
		if servers[i].Suffrage != raft.Voter {
			continue
		}
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			rc.close()
			return nil, fmt.Errorf("raw raft bootstrap: %w", err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for rc.leader() == nil {
		if time.Now().After(deadline) || ctx.Err() != nil {
			rc.close()
			return nil, fmt.Errorf("raw raft: no leader within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Let the new leader commit its first entry and reach every follower.
	if err := rc.leader().Barrier(10 * time.Second).Error(); err != nil {
		rc.close()
		return nil, fmt.Errorf("raw raft barrier: %w", err)
	}
	return rc, nil
}

// leader returns the server that is leader now, or nil.
func (rc *rawCluster) leader() *raft.Raft {
	for _, r := range rc.rafts {
		if r.State() == raft.Leader {
			return r
		}
	}
	return nil
}

// waitLeader waits up to 10 s for a leader other than old.
func (rc *rawCluster) waitLeader(old *raft.Raft) *raft.Raft {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range rc.rafts {
			if r != old && r.State() == raft.Leader {
				return r
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

func (rc *rawCluster) close() {
	for _, r := range rc.rafts {
		_ = r.Shutdown().Error()
	}
	for _, t := range rc.transports {
		_ = t.Close()
	}
	for _, s := range rc.stores {
		_ = s.Close()
	}
}

func scaleDuration(d time.Duration, m float64) time.Duration { return time.Duration(float64(d) * m) }

func bytesReader(s string) io.Reader { return bytes.NewReader([]byte(s)) }
