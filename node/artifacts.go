package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/node/artifact"
	"github.com/baton-upgrade/baton/rpc/api"
)

// DefaultArtifactMaxSize is the most bytes an artifact push may bring
// when the agent sets no limit (--artifact-max-size): 1 GiB.
const DefaultArtifactMaxSize = 1 << 30

// replicateTimeout bounds one server's copy of a pushed artifact.
const replicateTimeout = 10 * time.Minute

// heldArtifacts is this server's store of the artifacts held by the
// cluster, opened on first use under the data dir.
type heldArtifacts struct {
	once  sync.Once
	store *artifact.Store
	err   error
}

// artifactStore opens this server's store of held artifacts.
func (a *Agent) artifactStore() (*artifact.Store, error) {
	a.held.once.Do(func() {
		a.held.store, a.held.err = artifact.OpenStore(filepath.Join(a.cfg.DataDir, "held-artifacts"))
	})
	return a.held.store, a.held.err
}

// MaxArtifactSize implements rpc.Artifacts.
func (a *Agent) MaxArtifactSize() int64 {
	if a.cfg.ArtifactMaxSize > 0 {
		return a.cfg.ArtifactMaxSize
	}
	return DefaultArtifactMaxSize
}

// OpenArtifact implements rpc.Artifacts: this server's copy, as stored.
func (a *Agent) OpenArtifact(sha string) (*os.File, error) {
	store, err := a.artifactStore()
	if err != nil {
		return nil, err
	}
	f, err := store.Open(sha)
	if errors.Is(err, artifact.ErrNotHeld) {
		return nil, fmt.Errorf("%w: %s holds no copy of sha256:%s", fsm.ErrNotFound, a.cfg.ID, sha)
	}
	return f, err
}

// PushArtifact implements rpc.Artifacts: store the bytes (verified
// against sha), record the artifact with this server as its first
// holder, have every other voter copy it from here, and succeed only when
// a quorum of the voters hold it.
func (a *Agent) PushArtifact(ctx context.Context, sha, name string, size int64, body io.Reader) (api.ArtifactPush, error) {
	if err := a.checkArtifactProtocol(); err != nil {
		return api.ArtifactPush{}, err
	}
	store, err := a.artifactStore()
	if err != nil {
		return api.ArtifactPush{}, err
	}
	n, err := store.Put(ctx, body, sha, a.MaxArtifactSize())
	switch {
	case errors.Is(err, artifact.ErrTooLarge):
		return api.ArtifactPush{}, fmt.Errorf("%w: %v (--artifact-max-size)", api.ErrTooLarge, err)
	case errors.Is(err, artifact.ErrDigestMismatch), errors.Is(err, artifact.ErrBadDigest):
		return api.ArtifactPush{}, fmt.Errorf("%w: %v", fsm.ErrInvalid, err)
	case err != nil:
		return api.ArtifactPush{}, err
	}
	a.log.Info("artifact received", "sha256", sha, "size", n, "name", name)
	self := a.client(a.cfg.HTTPAddr)
	if err := self.RecordArtifact(ctx, api.ArtifactRecord{SHA256: sha, Holder: a.cfg.ID, Add: true, Size: n, Name: name}); err != nil {
		return api.ArtifactPush{}, fmt.Errorf("artifact sha256:%s is held by %s only, and recording it failed: %w", sha, a.cfg.ID, err)
	}
	var voters []fsm.Member
	a.fsm.View(func(s *fsm.State) {
		for _, m := range s.MemberList() {
			if m.Voter {
				voters = append(voters, m)
			}
		}
	})
	holders, why := a.replicate(ctx, sha, voters)
	held := 0
	for _, m := range voters {
		if holders[m.ID] {
			held++
		}
	}
	quorum := len(voters)/2 + 1
	out := api.ArtifactPush{Voters: held, Quorum: quorum,
		Artifact: api.Artifact{Ref: api.ArtifactRefPrefix + sha, SHA256: sha, Size: n, Name: name, Holders: sortedKeys(holders)}}
	if held < quorum {
		return out, fmt.Errorf("%w: artifact sha256:%s is held by %s only: %d of the %d voters must hold it, %d do (%s)",
			fsm.ErrConflict, sha, strings.Join(out.Artifact.Holders, ", "), quorum, len(voters), held, strings.Join(why, "; "))
	}
	a.log.Info("artifact held by a quorum", "sha256", sha, "holders", strings.Join(out.Artifact.Holders, ","))
	return out, nil
}

// replicate asks every voter but this server, all at once, to copy the
// artifact from here; it returns the servers that hold it (this one
// included) and why each other did not.
func (a *Agent) replicate(ctx context.Context, sha string, voters []fsm.Member) (map[string]bool, []string) {
	var mu sync.Mutex
	holders := map[string]bool{a.cfg.ID: true}
	var why []string
	var wg sync.WaitGroup
	req := api.ArtifactReplicate{Sources: []api.ArtifactSource{{ID: a.cfg.ID, Addr: a.cfg.HTTPAddr}}}
	for _, m := range voters {
		if m.ID == a.cfg.ID {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, replicateTimeout)
			defer cancel()
			err := a.client(m.HTTPAddr).ReplicateArtifact(cctx, sha, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				why = append(why, fmt.Sprintf("%s: %v", m.ID, err))
				return
			}
			holders[m.ID] = true
		}()
	}
	wg.Wait()
	slices.Sort(why)
	return holders, why
}

// ReplicateArtifact implements rpc.Artifacts: fetch the artifact from the
// sources (unless this server already holds a verified copy), keep it, and
// record this server as a holder.
func (a *Agent) ReplicateArtifact(ctx context.Context, sha string, req api.ArtifactReplicate) error {
	if err := a.checkArtifactProtocol(); err != nil {
		return err
	}
	store, err := a.artifactStore()
	if err != nil {
		return err
	}
	if store.Verify(sha) != nil {
		if _, err := a.FetchStoredArtifact(ctx, sha, req.Sources, store.Dir()); err != nil {
			return err
		}
	}
	a.log.Info("artifact copied", "sha256", sha)
	return a.client(a.cfg.HTTPAddr).RecordArtifact(ctx, api.ArtifactRecord{SHA256: sha, Holder: a.cfg.ID})
}

// FetchStoredArtifact fetches the artifact sha held by the cluster into
// destDir from sources in turn (artifact.FetchStored: resumed with Range,
// verified by digest), over this agent's TLS when it has one. It is what a
// node's step uses, and where a group leader's cache will plug in.
func (a *Agent) FetchStoredArtifact(ctx context.Context, sha string, sources []api.ArtifactSource, destDir string) (string, error) {
	holders := make([]artifact.Holder, len(sources))
	var hc http.Client
	for i, s := range sources {
		c := a.client(s.Addr)
		holders[i] = artifact.Holder{ID: s.ID, BaseURL: c.BaseURL()}
		hc = *c.HTTPClient()
	}
	hc.Timeout = 0 // ctx bounds the fetch; an artifact may take long
	hc.Transport = signedTransport{a: a, next: hc.Transport}
	return artifact.FetchStored(ctx, &hc, holders, sha, destDir)
}

// signedTransport sends a fetch as this agent calls other agents: with its
// token and signed with its node key.
type signedTransport struct {
	a    *Agent
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t signedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if t.a.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.a.cfg.Token)
	}
	t.a.SignRequest(req, nil)
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(req)
}

// RecordArtifact implements rpc.Artifacts (leader only).
func (a *Agent) RecordArtifact(ctx context.Context, rec api.ArtifactRecord) error {
	if rec.Add {
		_, err := a.Apply(ctx, fsm.CmdArtifactAdd, fsm.ArtifactAdd{SHA256: rec.SHA256, Size: rec.Size, Name: rec.Name, Holder: rec.Holder})
		return err
	}
	_, err := a.Apply(ctx, fsm.CmdArtifactHeld, fsm.ArtifactHeld{SHA256: rec.SHA256, Holder: rec.Holder})
	return err
}

// checkArtifactProtocol refuses artifacts while the cluster speaks a
// protocol older than the one that records them.
func (a *Agent) checkArtifactProtocol() error {
	var protocol int
	a.fsm.View(func(s *fsm.State) { protocol = s.ProtocolVersion })
	if need := fsm.CommandProtocol(fsm.CmdArtifactAdd); protocol < need {
		return fmt.Errorf("%w: artifacts held by the cluster need protocol %d, and the cluster speaks %d", fsm.ErrConflict, need, protocol)
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
