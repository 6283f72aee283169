package fsm

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// The upgrade program held by the cluster (S4's database, docs/fleets.md).
// The servers keep an artifact's bytes on their own disks, by digest, out
// of the Raft log; the log records only what the artifact is and which
// servers hold a verified copy. Everything here is protocol 3.

// Artifact commands (protocol 3).
const (
	// CmdArtifactAdd records an artifact pushed to the cluster and its
	// first holder, the server that received and verified it.
	CmdArtifactAdd CommandType = "artifact.add"
	// CmdArtifactHeld records that one more server holds a verified copy.
	CmdArtifactHeld CommandType = "artifact.held"
)

// Limits of the artifact records.
const (
	// MaxArtifacts bounds how many artifacts the cluster records.
	MaxArtifacts = 1000
	// MaxArtifactName bounds an artifact's name (the pushed file's base
	// name, for people).
	MaxArtifactName = 255
	// MaxArtifactSize bounds the size an artifact record may claim (1 TiB);
	// an agent's --artifact-max-size bounds what it accepts.
	MaxArtifactSize = 1 << 40
)

// Artifact is the record of one artifact held by the cluster.
type Artifact struct {
	// SHA256 is the digest of its bytes, 64 lower-case hex digits: the
	// artifact's name in the cluster (sha256:HEX).
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Name is the file name it was pushed from, for people.
	Name string `json:"name,omitempty"`
	// Holders are the servers that hold a verified copy, in the order they
	// got it.
	Holders []string  `json:"holders"`
	AddedAt time.Time `json:"added_at"`
}

// ArtifactAdd is the body of artifact.add.
type ArtifactAdd struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Name   string `json:"name,omitempty"`
	Holder string `json:"holder"`
}

// ArtifactHeld is the body of artifact.held.
type ArtifactHeld struct {
	SHA256 string `json:"sha256"`
	Holder string `json:"holder"`
}

// ArtifactList returns the recorded artifacts, oldest first (ties by
// digest).
func (s *State) ArtifactList() []Artifact {
	out := make([]Artifact, 0, len(s.Artifacts))
	for _, a := range s.Artifacts {
		a.Holders = slices.Clone(a.Holders)
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Artifact) int {
		if c := a.AddedAt.Compare(b.AddedAt); c != 0 {
			return c
		}
		return compareStrings(a.SHA256, b.SHA256)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ValidateArtifactName checks the name of a pushed artifact: valid UTF-8
// of at most MaxArtifactName bytes; an error wraps ErrInvalid.
func ValidateArtifactName(name string) error {
	if len(name) > MaxArtifactName || !utf8.ValidString(name) {
		return fmt.Errorf("%w: artifact name %q: want at most %d bytes of UTF-8", ErrInvalid, clip(name), MaxArtifactName)
	}
	return nil
}

// applyArtifactAdd records an artifact and its first holder. Adding an
// artifact already recorded adds the holder, so that a push repeated after
// a lost answer succeeds; a different size for the same digest is a
// conflict (it cannot be the same bytes).
func (s *State) applyArtifactAdd(now time.Time, c ArtifactAdd) error {
	if err := ValidateSHA256(c.SHA256); err != nil {
		return err
	}
	if c.Size < 0 || c.Size > MaxArtifactSize {
		return fmt.Errorf("%w: artifact size %d: want 0 to %d bytes", ErrInvalid, c.Size, int64(MaxArtifactSize))
	}
	if err := ValidateArtifactName(c.Name); err != nil {
		return err
	}
	if _, ok := s.Members[c.Holder]; !ok {
		return fmt.Errorf("%w: holder %q is not a member", ErrNotFound, clip(c.Holder))
	}
	if a, ok := s.Artifacts[c.SHA256]; ok {
		if a.Size != c.Size {
			return fmt.Errorf("%w: artifact sha256:%s is recorded with %d bytes, not %d", ErrConflict, c.SHA256, a.Size, c.Size)
		}
		s.addHolder(c.SHA256, c.Holder)
		return nil
	}
	if len(s.Artifacts) >= MaxArtifacts {
		return fmt.Errorf("%w: the cluster already records %d artifacts, the most it keeps", ErrConflict, MaxArtifacts)
	}
	if s.Artifacts == nil {
		s.Artifacts = map[string]Artifact{}
	}
	s.Artifacts[c.SHA256] = Artifact{SHA256: c.SHA256, Size: c.Size, Name: c.Name, Holders: []string{c.Holder}, AddedAt: now}
	return nil
}

// applyArtifactHeld records one more holder of a recorded artifact.
func (s *State) applyArtifactHeld(_ time.Time, c ArtifactHeld) error {
	if err := ValidateSHA256(c.SHA256); err != nil {
		return err
	}
	if _, ok := s.Artifacts[c.SHA256]; !ok {
		return fmt.Errorf("%w: artifact sha256:%s is not recorded", ErrNotFound, c.SHA256)
	}
	if _, ok := s.Members[c.Holder]; !ok {
		return fmt.Errorf("%w: holder %q is not a member", ErrNotFound, clip(c.Holder))
	}
	s.addHolder(c.SHA256, c.Holder)
	return nil
}

// addHolder adds holder to a recorded artifact, once; the holders are
// copied, since copies of the state share the old array.
func (s *State) addHolder(sha, holder string) {
	a := s.Artifacts[sha]
	if slices.Contains(a.Holders, holder) {
		return
	}
	a.Holders = append(slices.Clone(a.Holders), holder)
	s.Artifacts[sha] = a
}

// validateArtifacts checks the artifact records of a restored state.
func (s *State) validateArtifacts() error {
	if len(s.Artifacts) > MaxArtifacts {
		return fmt.Errorf("%d artifacts, over %d", len(s.Artifacts), MaxArtifacts)
	}
	for k, a := range s.Artifacts {
		if k != a.SHA256 || ValidateSHA256(a.SHA256) != nil {
			return fmt.Errorf("artifact %q: bad digest", clip(k))
		}
		if a.Size < 0 || a.Size > MaxArtifactSize || ValidateArtifactName(a.Name) != nil {
			return fmt.Errorf("artifact sha256:%s: bad size or name", k)
		}
	}
	return nil
}

// validateTxnArtifact checks a new transaction's artifact: one held by the
// cluster (ArtifactStored: recorded here, no URL; only from protocol 3,
// which an older build, dropping the field, refuses as a digest without a
// URL), or a URL with its digest, or none.
func (s *State) validateTxnArtifact(t Txn) error {
	if !t.ArtifactStored {
		return validateDigest(t.ArtifactURL, t.ArtifactSHA256, s.limits())
	}
	if s.ProtocolVersion < CommandProtocol(CmdArtifactAdd) {
		return fmt.Errorf("%w: an artifact held by the cluster needs protocol %d, and the cluster speaks %d",
			ErrInvalid, CommandProtocol(CmdArtifactAdd), s.ProtocolVersion)
	}
	if t.ArtifactURL != "" {
		return fmt.Errorf("%w: an artifact held by the cluster has no URL", ErrInvalid)
	}
	if err := ValidateSHA256(t.ArtifactSHA256); err != nil {
		return err
	}
	if _, ok := s.Artifacts[t.ArtifactSHA256]; !ok {
		return fmt.Errorf("%w: artifact sha256:%s is not held by the cluster: push it first (baton artifact push)", ErrNotFound, t.ArtifactSHA256)
	}
	return nil
}
