package fsm

import (
	"fmt"
	"regexp"
	"sort"
	"time"
)

// The gateway registry (S2's active variant; docs/ring.md). A gateway that
// follows the cluster registers under a name; the leader's coordinator
// then waits, after each step.begin, until every registered gateway says
// it has seen it (soft state, kept in the leader's memory, never here).
// A gateway leaves with gateway.leave, or the leader expires it with
// gateway.expire when it stops reporting. Every command is protocol 3.

// Gateway registry commands (protocol 3).
const (
	CmdGatewayRegister CommandType = "gateway.register"
	CmdGatewayLeave    CommandType = "gateway.leave"
	CmdGatewayExpire   CommandType = "gateway.expire"
)

// Gateway is a registered gateway as the state records it.
type Gateway struct {
	Name string `json:"name"`
	// RegisteredAt is when it first registered (the leader's clock); a
	// repeated registration keeps it.
	RegisteredAt time.Time `json:"registered_at"`
}

// GatewayRegister registers a gateway; registering a name already
// registered changes nothing.
type GatewayRegister struct {
	Name string `json:"name"`
}

// GatewayLeave removes a gateway that leaves cleanly.
type GatewayLeave struct {
	Name string `json:"name"`
}

// GatewayExpire removes a gateway the leader has not heard from for TTL.
type GatewayExpire struct {
	Name string   `json:"name"`
	TTL  Duration `json:"ttl"`
}

// MaxGateways bounds how many gateways may be registered at once: the
// leader waits for each after every step.begin.
const MaxGateways = 64

var gatewayNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// ValidateGatewayName checks a gateway's name: 1 to 32 lower-case letters,
// digits, '.', '_' or '-', starting with a letter or digit.
func ValidateGatewayName(name string) error {
	if !gatewayNamePattern.MatchString(name) {
		return fmt.Errorf("%w: gateway name %q: want 1-32 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
			ErrInvalid, clip(name))
	}
	return nil
}

// GatewayList returns the registered gateways sorted by name.
func (s *State) GatewayList() []Gateway {
	out := make([]Gateway, 0, len(s.Gateways))
	for _, g := range s.Gateways {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CheckGatewayRegister reports whether name may register, without
// changing anything.
func (s *State) CheckGatewayRegister(name string) error {
	if err := ValidateGatewayName(name); err != nil {
		return err
	}
	if _, ok := s.Gateways[name]; !ok && len(s.Gateways) >= MaxGateways {
		return fmt.Errorf("%w: %d gateways are registered, the most there may be", ErrConflict, MaxGateways)
	}
	return nil
}

func (s *State) applyGatewayRegister(now time.Time, c GatewayRegister) error {
	if err := s.CheckGatewayRegister(c.Name); err != nil {
		return err
	}
	if _, ok := s.Gateways[c.Name]; ok {
		return nil
	}
	if s.Gateways == nil {
		s.Gateways = map[string]Gateway{}
	}
	s.Gateways[c.Name] = Gateway{Name: c.Name, RegisteredAt: now}
	return nil
}

func (s *State) removeGateway(name string) error {
	if err := ValidateGatewayName(name); err != nil {
		return err
	}
	if _, ok := s.Gateways[name]; !ok {
		return fmt.Errorf("%w: gateway %q is not registered", ErrNotFound, name)
	}
	delete(s.Gateways, name)
	if len(s.Gateways) == 0 {
		s.Gateways = nil
	}
	return nil
}

func (s *State) applyGatewayLeave(_ time.Time, c GatewayLeave) error { return s.removeGateway(c.Name) }

func (s *State) applyGatewayExpire(_ time.Time, c GatewayExpire) error {
	return s.removeGateway(c.Name)
}
