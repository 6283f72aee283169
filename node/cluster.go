package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/baton-upgrade/baton/rpc/api"
	"time"
)

// ErrOtherCluster is the error of an agent whose data dir holds the state
// of one cluster and whose peers answer for another (the machines were
// reinstalled and a new cluster bootstrapped at the same addresses, say).
// Its term, vote, log and step journal belong to the old cluster; joining
// the new one with them could vote twice in a term or skip an install the
// journal says ran. It does not join.
var ErrOtherCluster = errors.New("data dir of another cluster")

// newClusterID makes the id of a cluster being bootstrapped.
func newClusterID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ClusterID is the id of the cluster this agent's data dir belongs to, ""
// while unknown.
func (a *Agent) ClusterID() string {
	a.clusterMu.Lock()
	defer a.clusterMu.Unlock()
	return a.clusterID
}

func (a *Agent) setClusterID(id string) {
	a.clusterMu.Lock()
	defer a.clusterMu.Unlock()
	a.clusterID = id
}

// clusterOf asks the agent at addr which cluster it belongs to ("" when it
// does not know or cannot be asked).
func (a *Agent) clusterOf(ctx context.Context, addr string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	// Unsigned: in another cluster a member may hold this id under another
	// key, and would refuse the signature; the question is a read.
	h, err := api.NewClientTLS(addr, a.cfg.Token, a.ClientTLS()).Health(ctx)
	if err != nil {
		return ""
	}
	return h.ClusterID
}

// checkClusterVia refuses (ErrOtherCluster) to register through addr when
// it answers for a cluster other than the one this data dir belongs to.
// Either side not knowing its cluster lets the registration go on.
func (a *Agent) checkClusterVia(ctx context.Context, addr string) error {
	mine := a.ClusterID()
	if mine == "" || addr == a.cfg.HTTPAddr {
		return nil
	}
	theirs := a.clusterOf(ctx, addr)
	if theirs == "" || theirs == mine {
		return nil
	}
	return fmt.Errorf("%w: --data-dir %s holds the state of cluster %s (%s), but %s answers for cluster %s. "+
		"This member's term, vote, log and step journal belong to its old cluster and must not join another. "+
		"Start it with the data dir of the cluster it belongs to; or, to make it a member of the new one, "+
		"empty --data-dir and start it with --join",
		ErrOtherCluster, a.cfg.DataDir, mine, IdentityFile, addr, theirs)
}

// learnClusterID records, after a registration, the cluster id the members
// at targets answer for, when this data dir did not know it yet (it just
// joined, or its cluster was bootstrapped by an older build).
func (a *Agent) learnClusterID(ctx context.Context, targets []string) {
	if a.ClusterID() != "" {
		return
	}
	for _, addr := range append(targets, a.peerAPIs()...) {
		if addr == a.cfg.HTTPAddr {
			continue
		}
		if id := a.clusterOf(ctx, addr); id != "" {
			a.setClusterID(id)
			if err := a.writeIdentity(); err != nil {
				a.log.Warn("cluster id not recorded in the identity marker", "cluster_id", id, "error", err)
				return
			}
			a.log.Info("joined cluster", "cluster_id", id, "via", addr)
			return
		}
	}
}
