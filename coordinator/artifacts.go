package coordinator

import (
	"fmt"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// checkStoredArtifact parses a request's --artifact sha256:HEX, an
// artifact held by the cluster: it excludes a URL and --sha256, needs
// protocol 3, and must be recorded (docs/fleets.md). It returns the digest,
// "" for none. Every error wraps fsm.ErrInvalid or fsm.ErrNotFound.
func (co *Coordinator) checkStoredArtifact(req api.StartRequest) (string, error) {
	if req.Artifact == "" {
		return "", nil
	}
	if req.ArtifactURL != "" || req.ArtifactSHA256 != "" {
		return "", fmt.Errorf("%w: --artifact %s names an artifact held by the cluster: give no URL and no --sha256 with it", fsm.ErrInvalid, req.Artifact)
	}
	sha, err := api.ParseArtifactRef(req.Artifact)
	if err != nil {
		return "", fmt.Errorf("%w: %v", fsm.ErrInvalid, err)
	}
	var (
		protocol int
		held     bool
	)
	co.c.FSM().View(func(s *fsm.State) {
		protocol = s.ProtocolVersion
		_, held = s.Artifacts[sha]
	})
	if need := fsm.CommandProtocol(fsm.CmdArtifactAdd); protocol < need {
		return "", fmt.Errorf("%w: an artifact held by the cluster needs protocol %d, and the cluster speaks %d", fsm.ErrInvalid, need, protocol)
	}
	if !held {
		return "", fmt.Errorf("%w: artifact %s is not held by the cluster: push it first (baton artifact push FILE)", fsm.ErrNotFound, req.Artifact)
	}
	return sha, nil
}

// artifactSources are the servers to fetch t's artifact held by the
// cluster from, for node: the members recorded as holding it, node itself
// first when it is one (its own copy is the nearest), then the others as
// recorded, leaving out those that left the catalogue and putting those
// recorded unreachable last. Nil for an artifact named by URL.
func artifactSources(s *fsm.State, t *fsm.Txn, node string) []api.ArtifactSource {
	if !t.ArtifactStored {
		return nil
	}
	a, ok := s.Artifacts[t.ArtifactSHA256]
	if !ok {
		return nil
	}
	var first, rest, last []api.ArtifactSource
	for _, id := range a.Holders {
		m, ok := s.Members[id]
		if !ok {
			continue
		}
		src := api.ArtifactSource{ID: id, Addr: m.HTTPAddr}
		switch {
		case id == node:
			first = append(first, src)
		case m.Liveness != nil && m.Liveness.Status == fsm.LivenessUnreachable:
			last = append(last, src)
		default:
			rest = append(rest, src)
		}
	}
	return append(append(first, rest...), last...)
}
