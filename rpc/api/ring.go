package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// The failover ring and the gateway registry (S2, protocol 3;
// docs/ring.md). Agents of builds that do not speak protocol 3 answer
// ErrNotFound to every route here.

// Ring is the failover ring (GET and PUT /v1/ring): the member ids in ring
// order, the last one's successor being the first. Explicit says an
// operator set it; without, it is the members in natural id order. An
// explicit ring is read with the members it does not list (they joined
// since) appended in natural id order, and without the members that have
// left.
type Ring struct {
	Order    []string `json:"order"`
	Explicit bool     `json:"explicit"`
}

// RingRequest sets the ring (PUT /v1/ring): every current member exactly
// once, in ring order.
type RingRequest struct {
	Order []string `json:"order"`
}

// Gateway is a registered gateway (GET /v1/gateways). SeenIndex and
// LastSeen are the leader's memory of the gateway's last report (POST
// /v1/gateways/{name}/seen): zero after a change of leader until the next
// report.
type Gateway struct {
	Name         string    `json:"name"`
	RegisteredAt time.Time `json:"registered_at"`
	SeenIndex    uint64    `json:"seen_index"`
	LastSeen     time.Time `json:"last_seen,omitzero"`
}

// GatewayRegistration registers a gateway (POST /v1/gateways): Name is 1 to
// 32 lower-case letters, digits, '.', '_' or '-'.
type GatewayRegistration struct {
	Name string `json:"name"`
}

// GatewaySeen is a gateway's report (POST /v1/gateways/{name}/seen) that
// it has seen the cluster's state up to Index (an X-Baton-Index it read)
// and has acted on it: its rotation matches that state.
type GatewaySeen struct {
	Index uint64 `json:"index"`
}

// MemberService is a member's service address, the body and answer of POST
// /v1/members/{id}/service (an agent reports its service_addr; empty says
// it names none).
type MemberService struct {
	ID          string `json:"id"`
	ServiceAddr string `json:"service_addr"`
}

// ReportServiceAddr records member id's service address (addr empty: none).
func (c *Client) ReportServiceAddr(ctx context.Context, id, addr string) error {
	_, err := c.Do(ctx, http.MethodPost, "/v1/members/"+url.PathEscape(id)+"/service", nil, MemberService{ID: id, ServiceAddr: addr}, nil)
	return err
}

// Ring reads the failover ring, waiting as w says.
func (c *Client) Ring(ctx context.Context, w Wait) (Ring, uint64, error) {
	var out Ring
	idx, err := c.Do(ctx, http.MethodGet, "/v1/ring", w.query(), nil, &out)
	return out, idx, err
}

// SetRing sets the failover ring to order and returns the ring as read
// after the change. ErrInvalid or ErrNotFound means the order is not every
// member exactly once (the message names the ids); ErrConflict, that a
// ring transaction is active.
func (c *Client) SetRing(ctx context.Context, order []string) (Ring, error) {
	var out Ring
	_, err := c.Do(ctx, http.MethodPut, "/v1/ring", nil, RingRequest{Order: order}, &out)
	return out, err
}

// RegisterGateway registers the gateway name, or confirms its registration
// (it is idempotent), and returns its record.
func (c *Client) RegisterGateway(ctx context.Context, name string) (Gateway, error) {
	var out Gateway
	_, err := c.Do(ctx, http.MethodPost, "/v1/gateways", nil, GatewayRegistration{Name: name}, &out)
	return out, err
}

// GatewaySeen reports that gateway name has seen the state up to index and
// acted on it. ErrNotFound means the gateway is not registered (it left,
// or the leader expired it): register again, then report.
func (c *Client) GatewaySeen(ctx context.Context, name string, index uint64) error {
	_, err := c.Do(ctx, http.MethodPost, "/v1/gateways/"+url.PathEscape(name)+"/seen", nil, GatewaySeen{Index: index}, nil)
	return err
}

// Gateways lists the registered gateways with the leader's memory of their
// reports, waiting as w says (the read is served by the leader).
func (c *Client) Gateways(ctx context.Context, w Wait) ([]Gateway, uint64, error) {
	var out []Gateway
	idx, err := c.Do(ctx, http.MethodGet, "/v1/gateways", w.query(), nil, &out)
	return out, idx, err
}

// DeregisterGateway removes the gateway name, for a gateway that stops
// cleanly. ErrNotFound means it was not registered.
func (c *Client) DeregisterGateway(ctx context.Context, name string) error {
	_, err := c.Do(ctx, http.MethodDelete, "/v1/gateways/"+url.PathEscape(name), nil, nil, nil)
	return err
}
