package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/baton-upgrade/baton/rpc/api"
)

// apiAgent is an Agent over the agents' HTTP API.
type apiAgent struct {
	addr string
	c    *api.Client
}

// NewAgent returns the Agent at addr (HOST:PORT, http:// or https://),
// sending token with every call when it is set; with conf (the CA, and a
// client certificate when the agents want one) a bare HOST:PORT means
// HTTPS.
func NewAgent(addr, token string, conf *tls.Config) Agent {
	return &apiAgent{addr: addr, c: api.NewClientTLS(addr, token, conf)}
}

func (a *apiAgent) Addr() string { return a.addr }

func (a *apiAgent) Members(ctx context.Context, w api.Wait) ([]api.Member, uint64, error) {
	return a.c.Members(ctx, w)
}

func (a *apiAgent) Ring(ctx context.Context) ([]string, uint64, error) {
	r, idx, err := a.c.Ring(ctx, api.Wait{})
	if errors.Is(err, api.ErrNotFound) {
		return nil, 0, fmt.Errorf("%w (the agent does not serve the failover ring: the gateway needs a cluster that speaks protocol 3)", err)
	}
	return r.Order, idx, err
}

// ActiveUpgrade reads the latest transaction (the active one, else the
// newest): unlike "active", its answer carries an index whenever there has
// been a transaction at all.
func (a *apiAgent) ActiveUpgrade(ctx context.Context) (*api.Txn, uint64, error) {
	txn, idx, err := a.c.Upgrade(ctx, "latest", api.Wait{})
	if errors.Is(err, api.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return &txn, idx, nil
}

func (a *apiAgent) RegisterGateway(ctx context.Context, name string) error {
	_, err := a.c.RegisterGateway(ctx, name)
	return err
}

func (a *apiAgent) GatewaySeen(ctx context.Context, name string, index uint64) error {
	err := a.c.GatewaySeen(ctx, name, index)
	if errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("%w: %v", ErrNotRegistered, err)
	}
	return err
}

func (a *apiAgent) DeregisterGateway(ctx context.Context, name string) error {
	err := a.c.DeregisterGateway(ctx, name)
	if errors.Is(err, api.ErrNotFound) {
		return nil // expired already: nothing to leave
	}
	return err
}
