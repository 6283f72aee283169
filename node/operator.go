package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/raft"
)

// probeTimeout bounds each server's answer to a report's health probe: a
// server that cannot answer in a second is reported unreachable.
const probeTimeout = time.Second

// RaftReport describes the Raft configuration as this agent holds it (its
// latest, which may not be committed yet unless the caller ran a barrier)
// and the state of each server: the catalogue's liveness record of it, and
// what the server itself answers at /v1/health, asked of all servers at
// once with probeTimeout each. Lag is measured against the leader's last
// log index as the leader answered it. Without a leader, Diagnosis says
// what this agent can reach and what a quorum needs.
func (a *Agent) RaftReport(ctx context.Context) api.RaftReport {
	r := a.parts.raft
	_, lid := r.LeaderWithID()
	rep := api.RaftReport{Observer: a.cfg.ID, Leader: string(lid), Term: r.CurrentTerm(), Servers: []api.RaftServer{}}
	var servers []raft.Server
	if cf := r.GetConfiguration(); cf.Error() == nil {
		servers, rep.ConfigIndex = cf.Configuration().Servers, cf.Index()
	}
	slices.SortFunc(servers, func(x, y raft.Server) int { return strings.Compare(string(x.ID), string(y.ID)) })
	addrs, status := a.peerAddrs()
	for _, srv := range servers {
		id := string(srv.ID)
		s := api.RaftServer{ID: id, Address: string(srv.Address), HTTPAddr: addrs[id], Suffrage: suffrageOut(srv.Suffrage),
			Leader: id == rep.Leader, Status: api.MemberUnknown}
		if st, ok := status[id]; ok {
			s.Status = st
		}
		if srv.Suffrage == raft.Voter {
			rep.Voters++
		}
		rep.Servers = append(rep.Servers, s)
	}
	rep.Quorum = rep.Voters/2 + 1
	a.probe(ctx, rep.Servers)
	for _, s := range rep.Servers {
		if s.Leader && s.Reachable {
			rep.LeaderLastIndex = s.LastIndex
		}
	}
	for i := range rep.Servers {
		if s := &rep.Servers[i]; s.Reachable && rep.LeaderLastIndex > 0 {
			lag := rep.LeaderLastIndex - min(s.LastIndex, rep.LeaderLastIndex)
			s.Lag = &lag
		}
	}
	if rep.Leader == "" {
		rep.Diagnosis = diagnose(a.cfg.ID, rep.Servers)
	}
	return rep
}

func suffrageOut(s raft.ServerSuffrage) string {
	switch s {
	case raft.Voter:
		return api.SuffrageVoter
	case raft.Nonvoter:
		return api.SuffrageNonvoter
	}
	return api.SuffrageStaging
}

// peerAddrs returns every known member's API address, from the catalogue
// or, for members it does not hold (an agent that has not caught up since
// it restarted holds none), from the peers file; and the catalogue's
// liveness status of each member it records.
func (a *Agent) peerAddrs() (addrs, status map[string]string) {
	addrs, status = map[string]string{}, map[string]string{}
	if pf, err := readPeersFile(a.cfg.DataDir); err == nil {
		for _, p := range pf.Members {
			addrs[p.ID] = p.HTTPAddr
		}
	}
	a.fsm.View(func(s *fsm.State) {
		for id, m := range s.Members {
			addrs[id] = m.HTTPAddr
			if m.Liveness != nil {
				status[id] = m.Liveness.Status
			}
		}
	})
	addrs[a.cfg.ID] = a.cfg.HTTPAddr
	return addrs, status
}

// probe asks every server's /v1/health at once and fills in what each
// answered; this agent answers for itself without the network.
func (a *Agent) probe(ctx context.Context, servers []api.RaftServer) {
	var wg sync.WaitGroup
	for i := range servers {
		s := &servers[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h api.Health
			var err error
			switch {
			case s.ID == a.cfg.ID:
				h = a.Health()
			case s.HTTPAddr == "":
				err = fmt.Errorf("its API address is unknown to %s", a.cfg.ID)
			default:
				pctx, cancel := context.WithTimeout(ctx, probeTimeout)
				h, err = a.client(s.HTTPAddr).Health(pctx)
				cancel()
			}
			if err != nil {
				s.Error = err.Error()
				return
			}
			s.Reachable, s.RaftState, s.LeaderSeen, s.LastContact = true, h.RaftState, h.Leader, h.LastContact
			s.LastIndex, s.AppliedIndex = h.LastIndex, h.AppliedIndex
		}()
	}
	wg.Wait()
}

// diagnose says why agent self, with the configuration servers as probed,
// knows no leader, and what would bring one back.
func diagnose(self string, servers []api.RaftServer) string {
	if len(servers) == 0 {
		return fmt.Sprintf("no leader: %s has no raft configuration: it has not joined a cluster yet "+
			"(start it with --join, or --bootstrap for a new cluster)", self)
	}
	var voters, reachable, missing, following []string
	var selfAddr, seen string
	inConfig := false
	for _, s := range servers {
		if s.ID == self {
			inConfig, selfAddr = true, s.Address
		}
		if s.Suffrage != api.SuffrageVoter {
			continue
		}
		voters = append(voters, s.ID)
		if !s.Reachable && s.ID != self {
			missing = append(missing, s.ID)
			continue
		}
		reachable = append(reachable, s.ID)
		if s.LeaderSeen != "" && s.ID != self {
			following, seen = append(following, s.ID), s.LeaderSeen
		}
	}
	if !inConfig {
		return fmt.Sprintf("no leader known to %s, and %s is not in its own raft configuration: it was removed from the cluster; "+
			"to rejoin, start it with an empty --data-dir and --join", self, self)
	}
	if len(following) > 0 {
		return fmt.Sprintf("no leader known to %s, but %s %s %s: %s is cut off from the leader; check that %s reaches %s's raft address %s "+
			"(a changed --raft-addr is moved by registering through a member)",
			self, andList(following), verb(following, "follows", "follow"), seen, self, seen, self, selfAddr)
	}
	quorum := len(voters)/2 + 1
	if len(reachable) >= quorum {
		return fmt.Sprintf("no leader yet: %d of %d voters reachable (%s), enough for a quorum of %d: an election should end within seconds; "+
			"if none does, check that they reach each other's raft addresses", len(reachable), len(voters), strings.Join(reachable, ", "), quorum)
	}
	return fmt.Sprintf("no leader: %d of %d voters reachable (%s); a quorum needs %d — bring back %s",
		len(reachable), len(voters), orNone(reachable), quorum, bringBack(quorum-len(reachable), missing))
}

// bringBack names which of the missing voters must come back for need more
// to be reachable.
func bringBack(need int, missing []string) string {
	switch {
	case need >= len(missing):
		return andList(missing)
	case need == 1 && len(missing) == 2:
		return orList(missing)
	case need == 1:
		return "one of " + orList(missing)
	}
	return fmt.Sprintf("%d of %s", need, orList(missing))
}

// andList joins ids as "a", "a and b", "a, b and c".
func andList(ids []string) string {
	if len(ids) <= 1 {
		return strings.Join(ids, "")
	}
	return strings.Join(ids[:len(ids)-1], ", ") + " and " + ids[len(ids)-1]
}

func verb(ids []string, one, many string) string {
	if len(ids) == 1 {
		return one
	}
	return many
}
