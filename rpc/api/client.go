package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// IndexHeader carries the state machine index a read was served at; pass it
// back as Wait.Index to wait for the next change.
const IndexHeader = "X-Baton-Index"

// ForwardedHeader marks a request one agent forwarded to the leader, so that
// it is never forwarded twice.
const ForwardedHeader = "X-Baton-Forwarded-By"

// CommitIndexHeader carries, on a step the leader sends a node, the
// leader's applied index: the node waits (briefly) until its own replica
// has applied as much before it checks that the step's transaction and
// attempt exist as committed.
const CommitIndexHeader = "X-Baton-Commit-Index"

// MaxWait is the longest an agent holds a long-polling read (?wait= is cut
// to it).
const MaxWait = 5 * time.Minute

// ErrUnreachable wraps the error of a call whose connection to the agent
// could not be opened: the request never left, so nothing was applied.
var ErrUnreachable = errors.New("agent unreachable")

// Client is a typed client of one agent's API. Writes sent to a follower are
// forwarded by that follower to the leader. A Client is safe for concurrent
// use.
type Client struct {
	addr   string
	scheme string
	token  string
	http   *http.Client
	hook   RequestHook
}

// RequestHook is called with each request a Client is about to send and
// its encoded body (nil for none); an agent signs its requests with it.
type RequestHook func(req *http.Request, body []byte)

// WithHook returns a copy of c that calls hook on every request.
func (c *Client) WithHook(hook RequestHook) *Client {
	cp := *c
	cp.hook = hook
	return &cp
}

// NewClient returns a client of the agent at addr (HOST:PORT, or a full
// http:// or https:// URL) that speaks plain HTTP to a bare HOST:PORT.
// token is sent as a bearer token when set. An https:// address is
// verified against the system's CAs; use NewClientTLS for Baton's own.
func NewClient(addr, token string) *Client {
	return NewClientTLS(addr, token, nil)
}

// NewClientTLS returns a client of the agent at addr that speaks HTTPS with
// conf (the CA it trusts, and the certificate it presents, if any; see
// ClientTLS). With a conf, a bare HOST:PORT means HTTPS; an explicit
// http:// still speaks plain HTTP. A nil conf is NewClient. Clients made
// with the same conf share their connections: make conf once and reuse it.
func NewClientTLS(addr, token string, conf *tls.Config) *Client {
	scheme := "http"
	if conf != nil {
		scheme = "https"
	}
	if u, err := url.Parse(addr); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
		addr, scheme = u.Host, u.Scheme
	}
	hc := &http.Client{Timeout: MaxWait + 30*time.Second}
	if conf != nil {
		hc.Transport = transportFor(conf)
	}
	return &Client{addr: addr, scheme: scheme, token: token, http: hc}
}

// Wait asks a read to block until the state moves past Index, for at most
// Wait. The zero value does not wait.
type Wait struct {
	Index uint64
	Wait  time.Duration
}

func (w Wait) query() url.Values {
	q := url.Values{}
	if w.Index > 0 || w.Wait > 0 {
		q.Set("index", strconv.FormatUint(w.Index, 10))
		if w.Wait > 0 {
			q.Set("wait", w.Wait.String())
		}
	}
	return q
}

// Do sends one request and decodes the JSON answer into out (when not nil).
// It returns the state index the answer was served at. An error answer
// becomes an *APIError; a connection that could not be opened, an error
// wrapping ErrUnreachable; any other failure to get an answer leaves the
// outcome of a write unknown (see Indeterminate).
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in, out any) (uint64, error) {
	var (
		body    io.Reader
		encoded []byte
	)
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("encode request: %w", err)
		}
		body, encoded = bytes.NewReader(b), b
	}
	u := c.scheme + "://" + c.addr + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.hook != nil {
		c.hook(req, encoded)
	}
	return c.send(req, out)
}

// send sends req and decodes its answer as Do does.
func (c *Client) send(req *http.Request, out any) (uint64, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		if tlsErr := c.wrapTLS(err); tlsErr != nil {
			return 0, tlsErr
		}
		if dialFailed(err) {
			return 0, fmt.Errorf("agent at %s: %w: %v", c.addr, ErrUnreachable, err)
		}
		return 0, fmt.Errorf("agent at %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, fmt.Errorf("agent at %s: read answer: %w", c.addr, err)
	}
	index, _ := strconv.ParseUint(resp.Header.Get(IndexHeader), 10, 64)
	if resp.StatusCode == http.StatusBadRequest && bytes.Contains(raw, []byte(httpsRefusal)) {
		return 0, fmt.Errorf("agent at %s: %w (%w)", c.addr, ErrAgentSpeaksHTTPS, ErrUnreachable)
	}
	if resp.StatusCode >= 300 {
		var e ErrorBody
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("agent at %s answered %s", c.addr, resp.Status)
		}
		code := e.Code
		if code == "" {
			code = codeOfStatus(resp.StatusCode)
		}
		return index, &APIError{Status: resp.StatusCode, Code: code, Message: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return index, fmt.Errorf("agent at %s: decode answer: %w", c.addr, err)
		}
	}
	return index, nil
}

// dialFailed reports whether err is the failure to open a connection: the
// request was never sent.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Members lists the catalogue, waiting as w says.
func (c *Client) Members(ctx context.Context, w Wait) ([]Member, uint64, error) {
	var out []Member
	idx, err := c.Do(ctx, http.MethodGet, "/v1/members", w.query(), nil, &out)
	return out, idx, err
}

// Leader names the current leader; ErrNoLeader when the agent knows none.
func (c *Client) Leader(ctx context.Context) (LeaderInfo, error) {
	var out LeaderInfo
	_, err := c.Do(ctx, http.MethodGet, "/v1/leader", nil, nil, &out)
	return out, err
}

// Join asks the cluster to admit a member and returns its record as
// committed. A refusal (ErrConflict: the id or an address is taken) is
// final; ErrNoLeader is worth retrying.
func (c *Client) Join(ctx context.Context, req JoinRequest) (Member, error) {
	var out Member
	_, err := c.Do(ctx, http.MethodPost, "/v1/members", nil, req, &out)
	return out, err
}

// RemoveMember removes member id from the cluster. Without force the
// cluster refuses (ErrConflict) a member it cannot reach or one with a
// pending or running step; with force it removes it anyway and fails that
// step. It refuses the last voter, and a voter whose removal would leave too
// few reachable voters for a quorum, whatever force says.
func (c *Client) RemoveMember(ctx context.Context, id string, force bool) (RemoveResponse, error) {
	var out RemoveResponse
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	_, err := c.Do(ctx, http.MethodDelete, "/v1/members/"+url.PathEscape(id), q, nil, &out)
	return out, err
}

// TransferLeadership moves leadership to the voter to, or to any voter when
// to is empty, and returns the new leader's id.
func (c *Client) TransferLeadership(ctx context.Context, to string) (string, error) {
	var out TransferResponse
	_, err := c.Do(ctx, http.MethodPost, "/v1/leader/transfer", nil, TransferRequest{To: to}, &out)
	return out.Leader, err
}

// Health describes the agent.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var out Health
	_, err := c.Do(ctx, http.MethodGet, "/v1/health", nil, nil, &out)
	return out, err
}

// RaftReport reads the Raft configuration and the state of each server as
// the agent sees them. A report without a leader is an answer, not an
// error: its Diagnosis says what the agent can reach. Builds that do not
// speak protocol 3 answer ErrNotFound.
func (c *Client) RaftReport(ctx context.Context, consistent bool) (RaftReport, error) {
	var out RaftReport
	var q url.Values
	if consistent {
		q = url.Values{"consistent": {"true"}}
	}
	_, err := c.Do(ctx, http.MethodGet, "/v1/operator/raft", q, nil, &out)
	return out, err
}

// Events reads the agent's events after the cursor, waiting up to wait for
// the first one.
func (c *Client) Events(ctx context.Context, after uint64, wait time.Duration) (Events, error) {
	var out Events
	q := url.Values{"after": {strconv.FormatUint(after, 10)}, "wait": {wait.String()}}
	_, err := c.Do(ctx, http.MethodGet, "/v1/events", q, nil, &out)
	return out, err
}

// ReportStatus reports member id's build. Only clusters at protocol 2 serve
// it; older ones answer ErrNotFound.
func (c *Client) ReportStatus(ctx context.Context, id string, b BuildInfo) error {
	_, err := c.Do(ctx, http.MethodPost, "/v1/members/"+url.PathEscape(id)+"/status", nil, b, nil)
	return err
}

// RegisterNodeKey records the public key member id's agent signs its
// requests with (protocol 3). The request must be signed with that key;
// a member with another key on record is a conflict.
func (c *Client) RegisterNodeKey(ctx context.Context, id, key string) error {
	_, err := c.Do(ctx, http.MethodPost, "/v1/members/"+url.PathEscape(id)+"/key", nil, MemberKey{ID: id, Key: key}, nil)
	return err
}

// ReportVersionError records why member id cannot read the version it runs,
// or, with an empty errText, that it can again. Only clusters at protocol 3
// serve it; older ones answer ErrNotFound.
func (c *Client) ReportVersionError(ctx context.Context, id, errText string) error {
	_, err := c.Do(ctx, http.MethodPost, "/v1/members/"+url.PathEscape(id)+"/version_error", nil,
		MemberVersionError{ID: id, Error: errText}, nil)
	return err
}

// Protocol reads the active protocol version, waiting as w says.
func (c *Client) Protocol(ctx context.Context, w Wait) (ProtocolInfo, uint64, error) {
	var out ProtocolInfo
	idx, err := c.Do(ctx, http.MethodGet, "/v1/protocol", w.query(), nil, &out)
	return out, idx, err
}
