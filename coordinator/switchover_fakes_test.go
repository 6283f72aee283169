package coordinator

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/baton-upgrade/baton/rpc/api"
)

// fakeService is a service whose roles live in a map, driven by the fake
// nodes' service routes: demote makes the old primary a replica (and, with
// handOver, the new one the primary at once, as FAILOVER TO does), promote
// makes the node the primary. Every node has every hook unless noHooks
// says otherwise.
type fakeService struct {
	mu       sync.Mutex
	role     map[string]string // node -> primary | replica
	lag      map[string]uint64
	roleErr  map[string]string
	noHooks  map[string][]string // node -> hooks it lacks
	fail     map[string]string   // "action/node" -> the hook's error
	handOver bool
	// actions logs every hook run, as "action node".
	actions []string
	// promoteLag records each promoted node's lag at the moment its
	// promote ran.
	promoteLag map[string]uint64
	// onAction, when set, runs before each action (a test kills the
	// leader there).
	onAction func(action, node string)
}

func newFakeService(primary string, nodes ...string) *fakeService {
	s := &fakeService{role: map[string]string{}, lag: map[string]uint64{}, roleErr: map[string]string{},
		noHooks: map[string][]string{}, fail: map[string]string{}, promoteLag: map[string]uint64{}}
	for _, n := range nodes {
		s.role[n] = api.RoleReplica
	}
	s.role[primary] = api.RolePrimary
	return s
}

func nodeOf(addr string) string { return strings.TrimSuffix(addr, ":80") }

// hooksOf lists the hooks of the node at addr; none without a service.
func (s *fakeService) hooksOf(addr string) []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hooks(nodeOf(addr))
}

func (s *fakeService) hooks(node string) []string {
	var out []string
	for _, h := range []string{api.HookRole, api.HookPromote, api.HookDemote, api.HookFollow, api.HookLag} {
		lacks := false
		for _, x := range s.noHooks[node] {
			lacks = lacks || x == h
		}
		if !lacks {
			out = append(out, h)
		}
	}
	return out
}

func (s *fakeService) primaries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n, r := range s.role {
		if r == api.RolePrimary {
			out = append(out, n)
		}
	}
	sortIDs(out)
	return out
}

func (s *fakeService) setLag(node string, lag uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag[node] = lag
}

func (s *fakeService) ran() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.actions...)
}

func (n *fakeNodes) service() *fakeService {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.svc
}

func (n *fakeNodes) ServiceProbe(_ context.Context, addr string, lag bool) (api.ServiceProbe, error) {
	n.mu.Lock()
	down := n.down[addr]
	n.mu.Unlock()
	if down {
		return api.ServiceProbe{}, errDown
	}
	node, s := nodeOf(addr), n.service()
	p := api.ServiceProbe{ID: node, Hooks: []string{}}
	if s == nil {
		return p, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p.Hooks = s.hooks(node)
	if !p.Has(api.HookRole) {
		return p, nil
	}
	if e := s.roleErr[node]; e != "" {
		p.RoleError = e
	} else {
		p.Role = s.role[node]
	}
	if lag && p.Has(api.HookLag) {
		l := s.lag[node]
		p.Lag = &l
	}
	return p, nil
}

func (n *fakeNodes) ServiceAction(_ context.Context, addr, action string, req api.ServiceActionRequest) (api.ServiceActionResult, error) {
	n.mu.Lock()
	down := n.down[addr]
	n.mu.Unlock()
	if down {
		return api.ServiceActionResult{}, errDown
	}
	node, s := nodeOf(addr), n.service()
	out := api.ServiceActionResult{ID: node, Action: action}
	if s == nil {
		return out, nil
	}
	s.mu.Lock()
	hook := s.onAction
	s.mu.Unlock()
	if hook != nil {
		hook(action, node)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	has := false
	for _, h := range s.hooks(node) {
		has = has || h == action
	}
	if !has {
		return out, nil
	}
	out.Ran = true
	s.actions = append(s.actions, action+" "+node)
	if e := s.fail[action+"/"+node]; e != "" {
		out.ExitCode, out.Error = 1, fmt.Sprintf("hook %s exited 1: %s", action, e)
		return out, nil
	}
	switch action {
	case api.HookDemote:
		s.role[node] = api.RoleReplica
		if s.handOver {
			s.role[req.NewPrimary] = api.RolePrimary
		}
	case api.HookPromote:
		s.promoteLag[node] = s.lag[node]
		s.role[node] = api.RolePrimary
	case api.HookFollow:
		s.role[node] = api.RoleReplica
	}
	return out, nil
}
