package fsm

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The limits on what a command may carry (docs/operations.md, "Limits").
// The API and the leader refuse a value over a limit at every protocol; the
// state machine refuses one only from LimitsProtocol on, since a log
// written before may hold such values and must replay as it applied.
const (
	// MaxVersionLen bounds a version string: hooks get it as an argument
	// and in the environment.
	MaxVersionLen = 128
	// MaxLabels bounds how many labels a member has.
	MaxLabels = 64
	// MaxLabelKeyLen bounds a label's key.
	MaxLabelKeyLen = 64
	// MaxLabelValueLen bounds a label's value.
	MaxLabelValueLen = 256
	// MaxURLLen bounds an artifact URL.
	MaxURLLen = 2048
	// MaxDuration bounds a transaction's step timeout and progress
	// deadline.
	MaxDuration = 7 * 24 * time.Hour
	// MaxReasonLen bounds a step's failure as the leader proposes it
	// (ClipReason). A longer one is cut, not refused: a node sends its
	// failure notice until it is acknowledged, and a refusal would leave
	// the step without its outcome.
	MaxReasonLen = 4096
)

// ClipReason cuts a failure reason to at most MaxReasonLen bytes, on a
// UTF-8 boundary, saying it was cut.
func ClipReason(reason string) string {
	if len(reason) <= MaxReasonLen {
		return reason
	}
	const mark = " ... (cut)"
	cut := MaxReasonLen - len(mark)
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut] + mark
}

// LimitsProtocol is the active protocol from which the state machine itself
// refuses a value over the limits above. Below it, only the API and the
// leader refuse such values, so a log written by an older build applies as
// it did.
const LimitsProtocol = 3

var (
	// idPattern is what member and transaction ids look like: safe in a
	// path, a file name and an environment variable.
	idPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	versionPattern = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+){0,3}([-+][0-9A-Za-z.+-]+)?$`)
	sha256Pattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidateID checks a member id: 1 to 64 letters, digits, '.', '_' or '-',
// starting with a letter or digit; any other string is an error wrapping
// ErrInvalid.
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: member id %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, clip(id))
	}
	return nil
}

// ValidateTxnID checks a transaction id; it looks like a member id.
func ValidateTxnID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: transaction id %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, clip(id))
	}
	return nil
}

// ValidateVersion checks a version string such as 2.0.0, v1.4 or
// 2.1.0-rc.1, of at most MaxVersionLen bytes; any other string is an error
// wrapping ErrInvalid.
func ValidateVersion(v string) error { return validateVersion(v, true) }

func validateVersion(v string, limits bool) error {
	if limits && len(v) > MaxVersionLen {
		return fmt.Errorf("%w: version of %d bytes: want at most %d", ErrInvalid, len(v), MaxVersionLen)
	}
	if !versionPattern.MatchString(v) {
		return fmt.Errorf("%w: version %q: want a version such as 2.0.0 or 2.1.0-rc.1", ErrInvalid, clip(v))
	}
	return nil
}

// clip shortens a refused value for an error message, so an error never
// carries a value of any size back.
func clip(v string) string {
	const keep = 64
	if len(v) <= keep {
		return v
	}
	return v[:keep] + "..."
}

// ValidateSHA256 checks a lower-case hex SHA-256 digest; any other string
// is an error wrapping ErrInvalid.
func ValidateSHA256(h string) error {
	if !sha256Pattern.MatchString(h) {
		return fmt.Errorf("%w: sha256 %q: want 64 lower-case hex digits", ErrInvalid, clip(h))
	}
	return nil
}

// ValidateDigest checks a transaction's artifact: none (both empty), or an
// absolute http or https URL of at most MaxURLLen bytes with the lower-case
// hex SHA-256 digest every node checks the download against. One without
// the other, a malformed digest, a longer URL, a relative one or one of
// another scheme (file: included) is an error wrapping ErrInvalid. Whether
// plain http is allowed is the agents' policy, not the state's: see
// ValidateArtifactURL.
func ValidateDigest(url, sha256 string) error { return validateDigest(url, sha256, true) }

func validateDigest(u, sha256 string, limits bool) error {
	if (u == "") != (sha256 == "") {
		return fmt.Errorf("%w: an artifact's URL and its sha256 digest go together: give both or neither", ErrInvalid)
	}
	if sha256 == "" {
		return nil
	}
	if err := ValidateSHA256(sha256); err != nil {
		return err
	}
	if limits {
		return ValidateArtifactURL(u, true)
	}
	return nil
}

// ValidateArtifactURL checks an artifact URL: at most MaxURLLen bytes,
// absolute, with a host, and https (or http when allowHTTP). A local path,
// a relative URL, file: and every other scheme are refused with an error
// wrapping ErrInvalid.
func ValidateArtifactURL(raw string, allowHTTP bool) error {
	if len(raw) > MaxURLLen {
		return fmt.Errorf("%w: artifact URL of %d bytes: want at most %d", ErrInvalid, len(raw), MaxURLLen)
	}
	want := "https"
	if allowHTTP {
		want = "http or https"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("%w: artifact URL %q: want an absolute %s URL with a host", ErrInvalid, clip(raw), want)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !allowHTTP) {
		return fmt.Errorf("%w: artifact URL %q: scheme %q is not allowed: want %s", ErrInvalid, clip(raw), u.Scheme, want)
	}
	if u.Host == "" {
		return fmt.Errorf("%w: artifact URL %q: want an absolute %s URL with a host", ErrInvalid, clip(raw), want)
	}
	return nil
}

// ValidateDuration checks a positive duration of at most MaxDuration, named
// what in the error, which wraps ErrInvalid.
func ValidateDuration(what string, d time.Duration) error {
	if d <= 0 || d > MaxDuration {
		return fmt.Errorf("%w: %s %s: want a positive duration of at most %s (7 days)", ErrInvalid, what, d, MaxDuration)
	}
	return nil
}

// ValidateLabels checks a member's labels: at most MaxLabels, each key 1 to
// MaxLabelKeyLen bytes and each value at most MaxLabelValueLen bytes; an
// error names the label and wraps ErrInvalid.
func ValidateLabels(labels map[string]string) error { return validateLabels(labels, true) }

func validateLabels(labels map[string]string, limits bool) error {
	if limits && len(labels) > MaxLabels {
		return fmt.Errorf("%w: %d labels: want at most %d", ErrInvalid, len(labels), MaxLabels)
	}
	for k, v := range labels {
		if k == "" || len(k) > MaxLabelKeyLen {
			return fmt.Errorf("%w: label key %q: want 1-%d characters", ErrInvalid, clip(k), MaxLabelKeyLen)
		}
		if limits && len(v) > MaxLabelValueLen {
			return fmt.Errorf("%w: label %q: value of %d bytes: want at most %d", ErrInvalid, k, len(v), MaxLabelValueLen)
		}
	}
	return nil
}

// ValidateOnFailure checks a transaction's failure policy: OnFailureHalt or
// OnFailureRollback. Anything else, the empty string included, is an error
// wrapping ErrInvalid.
func ValidateOnFailure(policy string) error {
	if policy != OnFailureHalt && policy != OnFailureRollback {
		return fmt.Errorf("%w: on-failure %q: want %s or %s", ErrInvalid, clip(policy), OnFailureHalt, OnFailureRollback)
	}
	return nil
}

// ValidateAddr checks a HOST:PORT address with a port in 1..65535.
func ValidateAddr(what, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %s %q: want HOST:PORT", ErrInvalid, what, clip(addr))
	}
	if host == "" {
		return fmt.Errorf("%w: %s %q: missing host", ErrInvalid, what, clip(addr))
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: %s %q: port must be 1-65535", ErrInvalid, what, clip(addr))
	}
	return nil
}

// ValidateProtocol checks a protocol range: 1 <= min <= max.
func ValidateProtocol(p ProtocolRange) error {
	if p.Min < 1 || p.Max < p.Min {
		return fmt.Errorf("%w: protocol range [%d,%d]: want 1 <= min <= max", ErrInvalid, p.Min, p.Max)
	}
	return nil
}

// NodeKeyPrefix starts a member's public key; base64 of 32 bytes follows.
const NodeKeyPrefix = "ed25519:"

// ValidateNodeKey checks a member's public key: "ed25519:" and the
// standard base64 of 32 bytes.
func ValidateNodeKey(k string) error {
	b64, ok := strings.CutPrefix(k, NodeKeyPrefix)
	if raw, err := base64.StdEncoding.DecodeString(b64); !ok || err != nil || len(raw) != 32 {
		return fmt.Errorf("%w: node key %.80q: want %s and the base64 of 32 bytes", ErrInvalid, k, NodeKeyPrefix)
	}
	return nil
}

// ValidateMember checks every field of a member record, the limits on its
// version and labels included; an error wraps ErrInvalid.
func ValidateMember(m Member) error { return validateMember(m, true) }

func validateMember(m Member, limits bool) error {
	if err := ValidateID(m.ID); err != nil {
		return err
	}
	if m.Client {
		if err := validateClientAddrs(m); err != nil { // clients.go
			return err
		}
	} else {
		if err := ValidateAddr("raft_addr", m.RaftAddr); err != nil {
			return err
		}
		if err := ValidateAddr("http_addr", m.HTTPAddr); err != nil {
			return err
		}
	}
	if err := ValidateProtocol(m.Protocol); err != nil {
		return err
	}
	if err := ValidateServiceAddr(m.ServiceAddr); err != nil {
		return err
	}
	if limits && len(m.Version) > MaxVersionLen {
		return fmt.Errorf("%w: version of %d bytes: want at most %d", ErrInvalid, len(m.Version), MaxVersionLen)
	}
	return validateLabels(m.Labels, limits)
}

// limits reports whether the state machine enforces the limits: from
// LimitsProtocol on (see there).
func (s *State) limits() bool { return s.ProtocolVersion >= LimitsProtocol }
