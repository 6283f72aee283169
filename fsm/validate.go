package fsm

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
)

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
		return fmt.Errorf("%w: member id %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, id)
	}
	return nil
}

// ValidateTxnID checks a transaction id; it looks like a member id.
func ValidateTxnID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: transaction id %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, id)
	}
	return nil
}

// ValidateVersion checks a version string such as 2.0.0, v1.4 or
// 2.1.0-rc.1; any other string is an error wrapping ErrInvalid.
func ValidateVersion(v string) error {
	if !versionPattern.MatchString(v) {
		return fmt.Errorf("%w: version %q: want a version such as 2.0.0 or 2.1.0-rc.1", ErrInvalid, v)
	}
	return nil
}

// ValidateSHA256 checks a lower-case hex SHA-256 digest; any other string
// is an error wrapping ErrInvalid.
func ValidateSHA256(h string) error {
	if !sha256Pattern.MatchString(h) {
		return fmt.Errorf("%w: sha256 %q: want 64 lower-case hex digits", ErrInvalid, h)
	}
	return nil
}

// ValidateDigest checks a transaction's artifact: none (both empty), or a
// URL with the lower-case hex SHA-256 digest every node checks the download
// against. One without the other, or a malformed digest, is an error
// wrapping ErrInvalid.
func ValidateDigest(url, sha256 string) error {
	if (url == "") != (sha256 == "") {
		return fmt.Errorf("%w: an artifact's URL and its sha256 digest go together: give both or neither", ErrInvalid)
	}
	if sha256 == "" {
		return nil
	}
	return ValidateSHA256(sha256)
}

// ValidateOnFailure checks a transaction's failure policy: OnFailureHalt or
// OnFailureRollback. Anything else, the empty string included, is an error
// wrapping ErrInvalid.
func ValidateOnFailure(policy string) error {
	if policy != OnFailureHalt && policy != OnFailureRollback {
		return fmt.Errorf("%w: on-failure %q: want %s or %s", ErrInvalid, policy, OnFailureHalt, OnFailureRollback)
	}
	return nil
}

// ValidateAddr checks a HOST:PORT address with a port in 1..65535.
func ValidateAddr(what, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %s %q: want HOST:PORT", ErrInvalid, what, addr)
	}
	if host == "" {
		return fmt.Errorf("%w: %s %q: missing host", ErrInvalid, what, addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: %s %q: port must be 1-65535", ErrInvalid, what, addr)
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

// ValidateMember checks every field of a member record.
func ValidateMember(m Member) error {
	if err := ValidateID(m.ID); err != nil {
		return err
	}
	if err := ValidateAddr("raft_addr", m.RaftAddr); err != nil {
		return err
	}
	if err := ValidateAddr("http_addr", m.HTTPAddr); err != nil {
		return err
	}
	if err := ValidateProtocol(m.Protocol); err != nil {
		return err
	}
	for k := range m.Labels {
		if k == "" || len(k) > 64 {
			return fmt.Errorf("%w: label key %q: want 1-64 characters", ErrInvalid, k)
		}
	}
	return nil
}
