package strategy

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Names of the built-in strategies, as given to --strategy and stored in a
// transaction.
const (
	// ByID upgrades the nodes in natural ID order (S1 rule 1).
	ByID = "by-id"
	// SecondariesFirst upgrades every node but the primary in ID order, and
	// the primary last (S1 rule 2).
	SecondariesFirst = "secondaries-first"
	// PrimaryFirst upgrades the primary first and then the others in ID
	// order (S1 rule 3).
	PrimaryFirst = "primary-first"
)

// Default is the strategy of a request that names none.
const Default = ByID

// builtin are the strategies every build registers, in the order --help
// lists them. A new strategy is a type in a file of its own, added here.
var builtin = []Strategy{byID{}, secondariesFirst{}, primaryFirst{}, ring{}, grouped{}}

func init() {
	for _, s := range builtin {
		Register(s)
	}
}

// registry holds the registered strategies by name and in registration
// order.
var registry = struct {
	mu     sync.RWMutex
	byName map[string]Strategy
	all    []Strategy
}{byName: map[string]Strategy{}}

var namePattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Register adds s to the strategies that Lookup, All and Plan know, under
// s.Name(). Call it from an init function. It panics when the name is not
// lower-case letters and digits joined by single '-', or is already
// registered: two strategies under one name would make a stored
// transaction's strategy ambiguous.
func Register(s Strategy) {
	name := s.Name()
	if !namePattern.MatchString(name) {
		panic(fmt.Sprintf("strategy: Register: bad name %q", name))
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if _, dup := registry.byName[name]; dup {
		panic(fmt.Sprintf("strategy: Register: %q registered twice", name))
	}
	registry.byName[name] = s
	registry.all = append(registry.all, s)
}

// Lookup returns the strategy registered under name. For any other name it
// returns an error wrapping ErrUnknownStrategy that names the bad value and
// lists the registered ones.
func Lookup(name string) (Strategy, error) {
	registry.mu.RLock()
	s, ok := registry.byName[name]
	registry.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q: valid strategies are %s", ErrUnknownStrategy, name, strings.Join(Names(), ", "))
	}
	return s, nil
}

// All returns the registered strategies in registration order (the
// built-ins first, as builtin lists them). The caller may modify the
// returned slice.
func All() []Strategy {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return append([]Strategy(nil), registry.all...)
}

// Names returns the names of All, in the same order, for --help and error
// messages. The caller may modify the returned slice.
func Names() []string {
	all := All()
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Name()
	}
	return names
}

// Validate returns nil for a registered strategy name, and Lookup's error
// for any other.
func Validate(name string) error {
	_, err := Lookup(name)
	return err
}
