package harness

import (
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/jepsen/lazyfs"
	"github.com/baton-upgrade/baton/jepsen/procs"
)

// DiskFault is a fault of an agent's file system that holds until cleared.
type DiskFault string

// The disk faults.
const (
	// DiskFull makes writes and creates fail with ENOSPC.
	DiskFull DiskFault = "disk-full"
	// FsyncFail makes fsync fail with EIO.
	FsyncFail DiskFault = "fsync-fail"
)

// storeFailedLine is what an agent logs when it stops because its disk
// refused a write or an fsync (node.LogStoreFailed; the suite imports only
// the API).
const storeFailedLine = "store failed"

// DiskStop is an agent that stopped by itself on a disk fault, as it must.
type DiskStop struct {
	Node  string    `json:"node"`
	Fault DiskFault `json:"fault"`
	At    time.Time `json:"at"`
	Tail  string    `json:"log_tail"`
}

// mountDisks gives every agent a lazy file system over its data dir (the
// disk is Root/ID.disk).
func (c *Cluster) mountDisks() error {
	for _, id := range c.ids {
		n := c.nodes[id]
		disk, err := lazyfs.New(filepath.Join(c.opts.Root, id+".disk"), n.agent.DataDir)
		if err != nil {
			return err
		}
		if err := disk.Mount(); err != nil {
			return err
		}
		n.disk = disk
	}
	return nil
}

// unmountDisks unmounts every lazy file system (the agents must be down);
// what they hold stays in Root/ID.disk.
func (c *Cluster) unmountDisks() {
	for _, id := range c.ids {
		if d := c.nodes[id].disk; d != nil {
			if err := d.Unmount(); err != nil {
				c.opts.Logf("unmount the data dir of %s: %v", id, err)
			}
		}
	}
}

// CanFaultDisks reports whether the agents' data dirs are lazy file
// systems, where PowerLoss and SetDiskFault work.
func (c *Cluster) CanFaultDisks() bool { return c.opts.DiskFaults }

// PowerLoss cuts the power of node id: SIGKILL, then every write and
// directory operation of its data dir not covered by an fsync is thrown
// away. Restart brings it back.
func (c *Cluster) PowerLoss(id string, rng *rand.Rand) (lazyfs.Loss, error) {
	n := c.nodes[id]
	if n.disk == nil {
		return lazyfs.Loss{}, errors.New("power loss needs the lazy file system (-disk-faults)")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c.mu.Lock()
	n.down, n.paused = true, false
	c.mu.Unlock()
	n.agent.Kill()
	if _, err := n.agent.WaitExit(10 * time.Second); err != nil {
		return lazyfs.Loss{}, fmt.Errorf("%s did not die: %w", id, err)
	}
	return n.disk.PowerLoss(rng)
}

// SetDiskFault turns fault on node id's file system on. While it holds,
// an agent that stops by itself on it is recorded as a disk stop (it
// must stop rather than run on), not as a crash, and is not restarted:
// ClearDiskFault does that.
func (c *Cluster) SetDiskFault(id string, fault DiskFault) error {
	n := c.nodes[id]
	if n.disk == nil {
		return errors.New("disk faults need the lazy file system")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c.mu.Lock()
	n.diskFault = fault
	c.mu.Unlock()
	c.applyDiskFault(n, fault, true)
	return nil
}

func (c *Cluster) applyDiskFault(n *node, fault DiskFault, on bool) {
	switch fault {
	case DiskFull:
		n.disk.SetFull(on)
	case FsyncFail:
		n.disk.SetFsyncFail(on)
	}
}

// ClearDiskFault ends node id's disk fault and starts its agent again if
// it stopped; it reports whether it had.
func (c *Cluster) ClearDiskFault(id string) (stopped bool, err error) {
	n := c.nodes[id]
	n.mu.Lock()
	defer n.mu.Unlock()
	c.mu.Lock()
	fault := n.diskFault
	n.diskFault = ""
	c.mu.Unlock()
	if fault == "" {
		return false, nil
	}
	c.applyDiskFault(n, fault, false)
	if !n.agent.Exited() {
		return false, nil
	}
	c.noteDiskStop(n, fault)
	return true, c.launch(n.agent.ID)
}

// noteDiskStop records an agent's exit during a disk fault: a stop on the
// fault if its log says so, a crash otherwise. n.mu must be held.
func (c *Cluster) noteDiskStop(n *node, fault DiskFault) {
	c.mu.Lock()
	already := n.down
	n.down = true
	c.mu.Unlock()
	if already {
		return // recorded when the watcher saw it
	}
	tail := procs.Tail(n.agent.LogPath, 15)
	if !strings.Contains(tail, storeFailedLine) {
		code, _ := n.agent.WaitExit(time.Second)
		c.mu.Lock()
		c.crashes = append(c.crashes, Crash{Node: n.agent.ID, At: time.Now(), Code: code, Tail: tail})
		c.mu.Unlock()
		c.opts.Logf("agent %s exited during %s without saying its store failed (a crash)", n.agent.ID, fault)
		return
	}
	c.mu.Lock()
	c.diskStops = append(c.diskStops, DiskStop{Node: n.agent.ID, Fault: fault, At: time.Now(), Tail: lastLine(tail, storeFailedLine)})
	c.mu.Unlock()
	c.opts.Logf("agent %s stopped on %s, as it must; it is started again when the fault clears", n.agent.ID, fault)
}

// lastLine is the last line of text that holds s.
func lastLine(text, s string) string {
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return ""
}

// DiskStops returns the agents that stopped on a disk fault.
func (c *Cluster) DiskStops() []DiskStop {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]DiskStop(nil), c.diskStops...)
}

// clearDiskFaults ends every disk fault (HealAll).
func (c *Cluster) clearDiskFaults() error {
	var errs []error
	for _, id := range c.ids {
		if _, err := c.ClearDiskFault(id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
