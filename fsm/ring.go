package fsm

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The failover ring and the members' service addresses (S2; docs/ring.md).
// Everything here is protocol 3: the commands are listed in
// commandProtocol, and a transaction's Ring is kept only once the cluster
// speaks protocol 3.

// Ring and service-address commands (protocol 3).
const (
	// CmdRingSet stores the failover ring's order.
	CmdRingSet CommandType = "ring.set"
	// CmdMemberService records the address a member's service listens on.
	CmdMemberService CommandType = "member.service"
)

// RingSet stores Order as the failover ring (protocol 3). It must list
// every current member exactly once, and is refused while a ring
// transaction is active.
type RingSet struct {
	Order []string `json:"order"`
}

// MemberService records the HOST:PORT a member's service listens on, or,
// empty, that it names none (protocol 3). The address travels in a command
// of its own rather than in member.join, whose meaning never changes
// (docs/protocol.md, rule 4); a join keeps the address recorded.
type MemberService struct {
	ID          string `json:"id"`
	ServiceAddr string `json:"service_addr,omitempty"`
}

// MaxRing bounds the length of an order ring.set takes (one such order of
// 64-byte ids stays well within the API's 1 MiB body).
const MaxRing = 10000

// ringActive returns the active transaction when its strategy is the ring,
// or nil. Every active state counts, failed and rollback-failed included:
// a retry or a rollback runs their steps again on the recorded ring.
func (s *State) ringActive() *Txn {
	if t := s.ActiveTxn(); t != nil && t.Strategy == StrategyRing {
		return t
	}
	return nil
}

// StrategyRing is the name of the ring strategy, which the state machine
// knows of for I9 (no two ring neighbours upgrading at once).
const StrategyRing = "ring"

// CheckRing reports whether order may become the ring, without changing
// anything: every id well formed and a current member, none twice, every
// member listed, and no ring transaction active. Errors name the offending
// ids.
func (s *State) CheckRing(order []string) error {
	if len(order) == 0 {
		return fmt.Errorf("%w: an empty ring: list every member", ErrInvalid)
	}
	if len(order) > MaxRing {
		return fmt.Errorf("%w: a ring of %d ids: want at most %d", ErrInvalid, len(order), MaxRing)
	}
	seen := make(map[string]bool, len(order))
	var dups, unknown []string
	for _, id := range order {
		if err := ValidateID(id); err != nil {
			return err
		}
		if seen[id] {
			dups = append(dups, id)
			continue
		}
		seen[id] = true
		if _, ok := s.Members[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	if len(dups) > 0 {
		return fmt.Errorf("%w: the ring lists %s more than once", ErrInvalid, strings.Join(dups, ", "))
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: the ring lists %s, which %s not a member", ErrNotFound, strings.Join(unknown, ", "), isAre(len(unknown)))
	}
	var missing []string
	for _, m := range s.MemberList() {
		if !seen[m.ID] {
			missing = append(missing, m.ID)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: the ring leaves out %s: list every member exactly once", ErrInvalid, strings.Join(missing, ", "))
	}
	if t := s.ringActive(); t != nil {
		return fmt.Errorf("%w: transaction %s upgrades around the ring and is %s: change the ring once it has ended", ErrConflict, t.ID, t.State)
	}
	return nil
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func (s *State) applyRingSet(_ time.Time, c RingSet) error {
	if err := s.CheckRing(c.Order); err != nil {
		return err
	}
	s.Ring = slices.Clone(c.Order)
	return nil
}

// ValidateServiceAddr checks a service address: empty (none), or HOST:PORT.
func ValidateServiceAddr(addr string) error {
	if addr == "" {
		return nil
	}
	return ValidateAddr("service_addr", addr)
}

func (s *State) applyMemberService(_ time.Time, c MemberService) error {
	m, ok := s.Members[c.ID]
	if !ok {
		return fmt.Errorf("%w: member %q", ErrNotFound, c.ID)
	}
	if err := ValidateServiceAddr(c.ServiceAddr); err != nil {
		return err
	}
	m.ServiceAddr = c.ServiceAddr
	s.Members[c.ID] = m
	return nil
}

// Neighbours returns the ids next to id in ring, in both directions (the
// last and the first are neighbours); none for an id not in it or a ring
// of one.
func Neighbours(ring []string, id string) []string {
	i := slices.Index(ring, id)
	if i < 0 || len(ring) < 2 {
		return nil
	}
	prev, next := ring[(i+len(ring)-1)%len(ring)], ring[(i+1)%len(ring)]
	if prev == next {
		return []string{next}
	}
	return []string{prev, next}
}

// checkTxnRing checks a new transaction's ring: only a ring
// transaction has one, it lists every step's node exactly once, and no
// batch holds two of its neighbours (I9). Before protocol 3 the field is
// dropped, as an older build (which does not know it) does.
func (s *State) checkTxnRing(t Txn) error {
	if s.ProtocolVersion < CommandProtocol(CmdRingSet) {
		return nil
	}
	if t.Strategy != StrategyRing {
		if t.Ring != nil {
			return fmt.Errorf("%w: a %s transaction has no ring", ErrInvalid, t.Strategy)
		}
		return nil
	}
	if len(t.Ring) != len(t.Steps) {
		return fmt.Errorf("%w: a ring transaction's ring lists %d nodes for %d steps", ErrInvalid, len(t.Ring), len(t.Steps))
	}
	pos := make(map[string]int, len(t.Ring))
	for i, id := range t.Ring {
		if _, dup := pos[id]; dup {
			return fmt.Errorf("%w: the transaction's ring lists %s twice", ErrInvalid, id)
		}
		pos[id] = i
	}
	batch := map[string]int{}
	for _, st := range t.Steps {
		if _, ok := pos[st.Node]; !ok {
			return fmt.Errorf("%w: the transaction's ring leaves out %s", ErrInvalid, st.Node)
		}
		batch[st.Node] = st.Batch
	}
	if len(t.Ring) < 2 {
		return nil
	}
	for i, id := range t.Ring {
		next := t.Ring[(i+1)%len(t.Ring)]
		if batch[id] == batch[next] {
			return fmt.Errorf("%w: ring neighbours %s and %s are in the same batch %d (I9)", ErrInvalid, id, next, batch[id]+1)
		}
	}
	return nil
}

// checkRingNeighbours refuses to begin node's step in a ring transaction
// while a ring neighbour's step runs (I9), whatever the step (an upgrade,
// a retry, a rollback).
func checkRingNeighbours(t *Txn, node string) error {
	if t.Strategy != StrategyRing || len(t.Ring) == 0 {
		return nil
	}
	for _, n := range Neighbours(t.Ring, node) {
		if st := t.Step(n); st != nil && st.State == StepRunning {
			return fmt.Errorf("%w: %s's ring neighbour %s is upgrading in %s: two neighbours in the failover ring are never down at once (I9)",
				ErrConflict, node, n, t.ID)
		}
	}
	return nil
}

// validateRing checks the stored ring and the gateway registry of a
// restored state: ids well formed and listed once (a member that left may
// still be listed), names well formed and equal to their keys.
func (s *State) validateRing() error {
	seen := make(map[string]bool, len(s.Ring))
	for _, id := range s.Ring {
		if err := ValidateID(id); err != nil {
			return fmt.Errorf("ring: %w", err)
		}
		if seen[id] {
			return fmt.Errorf("ring lists %q twice", id)
		}
		seen[id] = true
	}
	for name, g := range s.Gateways {
		if name != g.Name {
			return fmt.Errorf("gateways[%q] holds gateway %q", name, g.Name)
		}
		if err := ValidateGatewayName(name); err != nil {
			return fmt.Errorf("gateways: %w", err)
		}
	}
	return nil
}
