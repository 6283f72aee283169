package rpc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Artifacts is a server's part in the artifacts held by the cluster
// (docs/fleets.md). Every route is protocol 3.
type Artifacts interface {
	// MaxArtifactSize is the most bytes a push may bring (the agent's
	// --artifact-max-size).
	MaxArtifactSize() int64
	// PushArtifact stores the size bytes of body as the artifact sha
	// (verified against sha), records it, copies it to the other servers
	// and answers once a quorum of voters hold it. A digest mismatch wraps
	// fsm.ErrInvalid, too many bytes api.ErrTooLarge, too few holders
	// fsm.ErrConflict naming who holds it.
	PushArtifact(ctx context.Context, sha, name string, size int64, body io.Reader) (api.ArtifactPush, error)
	// ReplicateArtifact fetches the artifact sha from req's sources, keeps
	// a verified copy and records this server as a holder.
	ReplicateArtifact(ctx context.Context, sha string, req api.ArtifactReplicate) error
	// RecordArtifact commits an artifact's holder (leader only).
	RecordArtifact(ctx context.Context, rec api.ArtifactRecord) error
	// OpenArtifact opens this server's verified copy of sha, or fails
	// wrapping fsm.ErrNotFound.
	OpenArtifact(sha string) (*os.File, error)
}

// artifactRoutes adds the artifact routes when the build speaks the
// protocol that introduced them.
func (s *Server) artifactRoutes() {
	if s.opts.Artifacts == nil || s.opts.Speaks < fsm.CommandProtocol(fsm.CmdArtifactAdd) {
		return
	}
	s.mux.HandleFunc("PUT /v1/artifacts/{ref}", s.pushArtifact)
	s.mux.Handle("GET /v1/artifacts", s.read(s.listArtifacts))
	s.mux.HandleFunc("GET /v1/artifacts/{ref}", s.serveArtifact)
	s.mux.Handle("POST /v1/internal/artifacts/{ref}/replicate", s.localWrite(s.replicateArtifact))
	s.mux.Handle("POST /v1/internal/artifacts/records", s.write(s.recordArtifact))
}

// isArtifactUpload tells ServeHTTP which requests bring an artifact's
// bytes: their body is streamed to the store, under the artifact size
// limit instead of maxBody.
func isArtifactUpload(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/artifacts/")
}

func artifactRef(r *http.Request) (string, error) {
	sha, err := api.ParseArtifactRef(r.PathValue("ref"))
	if err != nil {
		return "", fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	return sha, nil
}

// pushArtifact receives an artifact. The body may take longer than the
// server's read timeout: the deadline is lifted for it, and the size limit
// bounds it instead (413 above it, declared or not).
func (s *Server) pushArtifact(w http.ResponseWriter, r *http.Request) {
	sha, err := artifactRef(r)
	if err != nil {
		writeError(w, err)
		return
	}
	limit := s.opts.Artifacts.MaxArtifactSize()
	if r.ContentLength > limit {
		writeError(w, fmt.Errorf("%w: the artifact is %d bytes, over this agent's limit of %d bytes (--artifact-max-size)",
			api.ErrTooLarge, r.ContentLength, limit))
		return
	}
	name := r.URL.Query().Get("name")
	if err := fsm.ValidateArtifactName(name); err != nil {
		writeError(w, err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	s.serve(w, r, func(r *http.Request) (any, error) {
		return s.opts.Artifacts.PushArtifact(r.Context(), sha, name, r.ContentLength, r.Body)
	})
}

func (s *Server) listArtifacts(r *http.Request) (any, error) {
	var list []fsm.Artifact
	s.b.FSM().View(func(st *fsm.State) { list = st.ArtifactList() })
	out := make([]api.Artifact, len(list))
	for i, a := range list {
		out[i] = ArtifactOut(a)
	}
	return out, nil
}

// ArtifactOut is an artifact record as the API shows it.
func ArtifactOut(a fsm.Artifact) api.Artifact {
	return api.Artifact{Ref: api.ArtifactRefPrefix + a.SHA256, SHA256: a.SHA256, Size: a.Size, Name: a.Name,
		Holders: append([]string(nil), a.Holders...), AddedAt: a.AddedAt}
}

// serveArtifact serves this server's copy of an artifact, with HTTP Range
// so that a download cut short resumes. The fetcher verifies the digest of
// what it gets; a server does not hash a large file for every request.
func (s *Server) serveArtifact(w http.ResponseWriter, r *http.Request) {
	sha, err := artifactRef(r)
	if err != nil {
		writeError(w, err)
		return
	}
	f, err := s.opts.Artifacts.OpenArtifact(sha)
	if err != nil {
		writeError(w, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, err)
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

func (s *Server) replicateArtifact(r *http.Request) (any, error) {
	sha, err := artifactRef(r)
	if err != nil {
		return nil, err
	}
	var req api.ArtifactReplicate
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if len(req.Sources) == 0 {
		return nil, fmt.Errorf("%w: no source to fetch sha256:%s from", api.ErrInvalid, sha)
	}
	return struct{}{}, s.opts.Artifacts.ReplicateArtifact(r.Context(), sha, req)
}

func (s *Server) recordArtifact(r *http.Request) (any, error) {
	var rec api.ArtifactRecord
	if err := decode(r, &rec); err != nil {
		return nil, err
	}
	return struct{}{}, s.opts.Artifacts.RecordArtifact(r.Context(), rec)
}
