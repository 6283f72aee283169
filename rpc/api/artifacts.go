package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ArtifactRefPrefix starts the reference of an artifact held by the
// cluster: sha256:HEX, the digest of its bytes.
const ArtifactRefPrefix = "sha256:"

// ParseArtifactRef returns the 64 lower-case hex digits of an artifact
// reference sha256:HEX, or an error naming the bad value.
func ParseArtifactRef(ref string) (string, error) {
	hexDigits, ok := strings.CutPrefix(ref, ArtifactRefPrefix)
	if !ok || len(hexDigits) != 64 || strings.Trim(hexDigits, "0123456789abcdef") != "" {
		show := ref
		if len(show) > 80 {
			show = show[:80] + "..."
		}
		return "", fmt.Errorf("artifact %q: want sha256: and 64 lower-case hex digits, as baton artifact push prints", show)
	}
	return hexDigits, nil
}

// Artifact is an artifact held by the cluster (GET /v1/artifacts): its
// reference (sha256:HEX), size, the name it was pushed from, and the
// servers that hold a verified copy.
type Artifact struct {
	Ref     string    `json:"ref"`
	SHA256  string    `json:"sha256"`
	Size    int64     `json:"size"`
	Name    string    `json:"name,omitempty"`
	Holders []string  `json:"holders"`
	AddedAt time.Time `json:"added_at"`
}

// ArtifactPush is the answer to a push (PUT /v1/artifacts/{ref}): the
// artifact, and how many voters hold it of the quorum it needed.
type ArtifactPush struct {
	Artifact Artifact `json:"artifact"`
	Voters   int      `json:"voters"`
	Quorum   int      `json:"quorum"`
}

// ArtifactReplicate asks a server to fetch an artifact from Sources (the
// API addresses of servers that hold it) and keep a verified copy (POST
// /v1/internal/artifacts/{ref}/replicate; protocol 3).
type ArtifactReplicate struct {
	Sources []ArtifactSource `json:"sources"`
}

// ArtifactSource is a server that holds an artifact: its ID and API
// address.
type ArtifactSource struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// ArtifactRecord asks the leader to record an artifact's holder (POST
// /v1/internal/artifacts/records; protocol 3): with Add, the artifact
// itself too (its size and name), as its first holder.
type ArtifactRecord struct {
	SHA256 string `json:"sha256"`
	Holder string `json:"holder"`
	Add    bool   `json:"add,omitempty"`
	Size   int64  `json:"size,omitempty"`
	Name   string `json:"name,omitempty"`
}

// Addr is the address the client talks to, as HOST:PORT.
func (c *Client) Addr() string { return c.addr }

// BaseURL is the scheme and address the client talks to, such as
// https://10.0.0.1:7070.
func (c *Client) BaseURL() string { return c.scheme + "://" + c.addr }

// HTTPClient is the client's HTTP client (its TLS configuration
// included), for a caller that streams bodies itself.
func (c *Client) HTTPClient() *http.Client { return c.http }

// PushArtifact streams size bytes of body to the agent as the artifact
// sha256:sha named name (PUT /v1/artifacts/{ref}). The agent verifies the
// digest, copies it to the other servers, and answers once a quorum of
// voters hold it; see ArtifactPush.
func (c *Client) PushArtifact(ctx context.Context, sha, name string, size int64, body io.Reader) (ArtifactPush, error) {
	u := c.BaseURL() + "/v1/artifacts/" + ArtifactRefPrefix + sha + "?" + url.Values{"name": {name}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, body)
	if err != nil {
		return ArtifactPush{}, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// The push takes as long as the bytes take to travel and to be copied
	// to the other servers: ctx bounds it, not the client's timeout.
	unbounded, hc := *c, *c.http
	hc.Timeout = 0
	unbounded.http = &hc
	var out ArtifactPush
	_, err = unbounded.send(req, &out)
	return out, err
}

// Artifacts lists the artifacts held by the cluster.
func (c *Client) Artifacts(ctx context.Context) ([]Artifact, error) {
	var out []Artifact
	_, err := c.Do(ctx, http.MethodGet, "/v1/artifacts", nil, nil, &out)
	return out, err
}

// ReplicateArtifact asks the agent to fetch the artifact sha from sources
// and keep a verified copy, recorded as held.
func (c *Client) ReplicateArtifact(ctx context.Context, sha string, req ArtifactReplicate) error {
	_, err := c.Do(ctx, http.MethodPost, "/v1/internal/artifacts/"+ArtifactRefPrefix+sha+"/replicate", nil, req, nil)
	return err
}

// RecordArtifact records an artifact's holder through the leader.
func (c *Client) RecordArtifact(ctx context.Context, rec ArtifactRecord) error {
	_, err := c.Do(ctx, http.MethodPost, "/v1/internal/artifacts/records", nil, rec, nil)
	return err
}
