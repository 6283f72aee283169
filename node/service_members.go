package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// membersFile is the JSON file of the members that hooks read through
// BATON_MEMBERS_FILE. It is rewritten, by a write to a temporary file and
// a rename, before a hook starts whenever the state changed since it was
// last written, so a hook reads a whole, current file; a hook still reading
// an older one keeps it.
type membersFile struct {
	mu      sync.Mutex
	path    string
	written uint64 // the state index last written; 0 before the first write
}

// fileMember is one member as the file lists it (CLI.md).
type fileMember struct {
	ID       string            `json:"id"`
	HTTPAddr string            `json:"http_addr"`
	Version  string            `json:"version"`
	Labels   map[string]string `json:"labels"`
	// Role is primary, replica, or empty without a role hook.
	Role string `json:"role"`
	// ServiceAddr is the node's service address (service_addr in its
	// agent's config file); empty when it names none.
	ServiceAddr string `json:"service_addr"`
	// Status is alive, unreachable or unknown, as the leader recorded it.
	Status string `json:"status"`
}

// write brings the file up to date with f's state and returns its path. On
// an error the path is still returned: an older file may be there.
func (m *membersFile) write(f *fsm.FSM) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var (
		index   uint64
		members []fileMember
	)
	f.View(func(s *fsm.State) {
		index = s.Index
		if index == m.written {
			return
		}
		members = make([]fileMember, 0, len(s.Members))
		for _, mb := range s.MemberList() {
			fm := fileMember{ID: mb.ID, HTTPAddr: mb.HTTPAddr, Version: mb.Version, Labels: mb.Labels,
				Role: mb.Role, ServiceAddr: mb.ServiceAddr, Status: api.MemberUnknown}
			if fm.Labels == nil {
				fm.Labels = map[string]string{}
			}
			if l := mb.Liveness; l != nil {
				fm.Status = l.Status
			}
			members = append(members, fm)
		}
	})
	if members == nil {
		return m.path, nil
	}
	b, err := json.MarshalIndent(members, "", "  ")
	if err != nil {
		return m.path, fmt.Errorf("members file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(m.path), 0o755); err != nil {
		return m.path, fmt.Errorf("members file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(m.path), ".members-*.json")
	if err != nil {
		return m.path, fmt.Errorf("members file: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), m.path)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return m.path, fmt.Errorf("members file: %w", werr)
	}
	m.written = index
	return m.path, nil
}
