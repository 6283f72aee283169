package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/fsm"
)

// peersFileName is the file in the data dir where an agent keeps the
// catalogue's addresses. Raft restores the state machine only from a
// snapshot at start and applies the log once a leader says it is committed,
// so an agent that restarts and finds no leader (it was removed, or its
// --raft-addr changed, or the cluster lost its quorum) holds an empty
// catalogue: the file is how it still knows whom to ask. Like Consul's Serf
// snapshot, it is a hint, never the truth: nothing is decided from it alone.
const peersFileName = "peers.json"

// peersFile is the content of the peers file.
type peersFile struct {
	// Protocol is the cluster's active protocol when the file was written.
	Protocol int          `json:"protocol"`
	Members  []peerRecord `json:"members"`
}

type peerRecord struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

// readPeersFile reads the peers file of the data dir dir.
func readPeersFile(dir string) (peersFile, error) {
	var pf peersFile
	b, err := os.ReadFile(filepath.Join(dir, peersFileName))
	if err != nil {
		return pf, err
	}
	if err := json.Unmarshal(b, &pf); err != nil {
		return pf, fmt.Errorf("read %s: %w", peersFileName, err)
	}
	return pf, nil
}

// writePeersFile replaces the peers file atomically.
func writePeersFile(dir string, pf peersFile) error {
	b, err := json.MarshalIndent(pf, "", "  ")
	if err != nil {
		return err
	}
	// The content is synced before the rename: otherwise a power cut
	// after the rename reached the disk could leave the name with no
	// content (stores.go's writeSynced).
	tmp := filepath.Join(dir, peersFileName+".tmp")
	if err := writeSynced(tmp, append(b, '\n'), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, peersFileName))
}

// peersOf is the peers file that state s makes.
func peersOf(s *fsm.State) peersFile {
	pf := peersFile{Protocol: s.ProtocolVersion}
	for _, m := range s.MemberList() {
		pf.Members = append(pf.Members, peerRecord{ID: m.ID, RaftAddr: m.RaftAddr, HTTPAddr: m.HTTPAddr})
	}
	return pf
}

// keepPeersFile writes the peers file whenever the catalogue's addresses or
// the active protocol change, until the agent stops. An empty catalogue
// (the state of an agent that has not caught up since it restarted) never
// overwrites what the file holds.
func (a *Agent) keepPeersFile() {
	defer a.wg.Done()
	last, _ := readPeersFile(a.cfg.DataDir)
	for {
		changed := a.fsm.Changed()
		var pf peersFile
		a.fsm.View(func(s *fsm.State) { pf = peersOf(s) })
		if len(pf.Members) > 0 && !samePeers(pf, last) {
			if err := writePeersFile(a.cfg.DataDir, pf); err != nil {
				a.log.Warn("could not write the peers file", "error", err)
			} else {
				last = pf
			}
		}
		select {
		case <-a.ctx.Done():
			return
		case <-changed:
		}
		// Commits come in bursts; one write covers a burst.
		select {
		case <-a.ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func samePeers(x, y peersFile) bool {
	return x.Protocol == y.Protocol && slices.Equal(x.Members, y.Members)
}

// peerAPIs lists the API addresses of the other members this agent knows
// of, from the catalogue, the peers file and --join, without repeats, this
// agent's own excluded.
func (a *Agent) peerAPIs() []string {
	addrs, _ := a.peerAddrs()
	var out []string
	seen := map[string]bool{a.cfg.HTTPAddr: true}
	ids := make([]string, 0, len(addrs))
	for id := range addrs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if addr := addrs[id]; id != a.cfg.ID && addr != "" && !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	for _, j := range a.cfg.Join {
		if !seen[j] && !strings.Contains(j, a.cfg.HTTPAddr) {
			seen[j] = true
			out = append(out, j)
		}
	}
	return out
}
