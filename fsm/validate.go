package fsm

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateID checks a member id: 1 to 64 letters, digits, '.', '_' or '-',
// starting with a letter or digit.
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: member id %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, id)
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
