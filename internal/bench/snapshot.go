package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/node"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// SnapshotOptions size one run of the snapshot measurement.
type SnapshotOptions struct {
	// Members is the size of the catalogue.
	Members int
	// Takes is how many snapshots the leader takes; Sends how many
	// followers it sends one to.
	Takes, Sends int
	// Dir holds the leader's and the followers' data directories.
	Dir string
	// Bin is the baton binary the followers run.
	Bin string
	// Limit bounds the whole run.
	Limit time.Duration
}

// SnapshotResult is what one run measured, per snapshot taken or sent.
type SnapshotResult struct {
	Members int `json:"members"`
	// SizeMB is the snapshot's size on disk.
	SizeMB []float64 `json:"size_mb"`
	// CaptureMS is the state machine's Snapshot() alone: the time it
	// holds its read lock, during which commands wait.
	CaptureMS []float64 `json:"capture_ms"`
	// TakeMS is a Raft user snapshot: capture, persist to the file store
	// with fsync, log compaction.
	TakeMS []float64 `json:"take_ms"`
	// AllocMB is what the process allocated during a take.
	AllocMB []float64 `json:"alloc_mb"`
	// HeapGrowthMB is the peak of the Go heap during a take above the heap
	// before it (sampled every millisecond).
	HeapGrowthMB []float64 `json:"heap_growth_mb"`
	// PeakRSSMB is the process's resident-set high-water mark during a
	// take; BaseRSSMB its resident set before the takes.
	PeakRSSMB []float64 `json:"peak_rss_mb"`
	BaseRSSMB float64   `json:"base_rss_mb"`
	// HeapMB is the Go heap in use before the takes: the leader's state.
	HeapMB float64 `json:"heap_mb"`
	// SendMS is, on a new follower (a baton agent process), the receipt of
	// the leader's snapshot into its file store: the transfer.
	SendMS []float64 `json:"send_ms"`
	// RestoreMS is, on that follower, the snapshot on disk to the state
	// machine restored from it.
	RestoreMS []float64 `json:"restore_ms"`
	// InstallMS is the leader adding the follower to its installed
	// snapshot: the backed-off appends, the transfer and the restore.
	InstallMS []float64 `json:"install_ms"`
}

// Snapshots runs a real agent in this process, the only voter of a
// one-node Raft cluster, whose state machine holds the state of
// snapshotState(opts.Members) (given to Raft as a restored snapshot, so it
// is the agent's replicated state). It takes opts.Takes Raft snapshots,
// timing each and watching the process's memory, then adds opts.Sends new
// followers (baton agent processes) one at a time, each of which the
// leader must send its snapshot to, since its log starts after it.
//
// Run it in a process of its own: the memory it reports is the process's.
func Snapshots(ctx context.Context, opts SnapshotOptions) (SnapshotResult, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Limit)
	defer cancel()
	res := SnapshotResult{Members: opts.Members}
	raftAddr, err := procs.FreeAddr()
	if err != nil {
		return res, err
	}
	httpAddr, err := procs.FreeAddr()
	if err != nil {
		return res, err
	}
	agent, err := node.New(node.Config{ID: "m00000", DataDir: filepath.Join(opts.Dir, "leader"), RaftAddr: raftAddr,
		HTTPAddr: httpAddr, Bootstrap: true, Version: "1.0.0", BuildVersion: "1.0.0", Protocol: fsm.ProtocolRange{Min: 1, Max: 1},
		RaftMultiplier: 0.2, Logger: hclog.NewNullLogger()})
	if err != nil {
		return res, err
	}
	if err := agent.Start(); err != nil {
		return res, err
	}
	defer agent.Shutdown()
	if err := waitFor(ctx, agent.IsLeader); err != nil {
		return res, fmt.Errorf("snapshot: no leadership: %w", err)
	}
	if err := loadState(agent, opts.Members, raftAddr); err != nil {
		return res, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	res.BaseRSSMB = rssMB()
	res.HeapMB = float64(heapBytes()) / (1 << 20)

	for range opts.Takes {
		if err := agent.Barrier(ctx); err != nil { // a new entry for the snapshot to cover
			return res, err
		}
		start := time.Now()
		snap, err := agent.FSM().Snapshot()
		if err != nil {
			return res, err
		}
		res.CaptureMS = append(res.CaptureMS, ms(time.Since(start)))
		snap.Release()
		if err := takeSnapshot(ctx, agent, &res); err != nil {
			return res, err
		}
	}
	for i := range opts.Sends {
		if err := sendSnapshot(ctx, agent, opts, i, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// loadState gives the leader the state of snapshotState through Raft's
// user restore, as an operator restoring a backup would.
func loadState(agent *node.Agent, members int, raftAddr string) error {
	s, err := snapshotState(members, raftAddr)
	if err != nil {
		return fmt.Errorf("snapshot: build the state: %w", err)
	}
	b, err := s.MarshalSnapshot()
	if err != nil {
		return err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: s.Index, Term: 1, Size: int64(len(b))}
	if err := agent.Raft().Restore(meta, bytes.NewReader(b), 5*time.Minute); err != nil {
		return fmt.Errorf("snapshot: restore the state into the leader: %w", err)
	}
	return nil
}

// takeSnapshot takes one Raft user snapshot and records its time, size
// and memory.
func takeSnapshot(ctx context.Context, agent *node.Agent, res *SnapshotResult) error {
	runtime.GC()
	debug.FreeOSMemory()
	heap0, alloc0 := heapBytes(), allocBytes()
	resetPeakRSS()
	peak := sampleHeap(ctx, time.Millisecond)
	start := time.Now()
	f := agent.Raft().Snapshot()
	err := f.Error()
	took := time.Since(start)
	maxHeap := peak()
	if err != nil {
		return fmt.Errorf("snapshot: take: %w", err)
	}
	res.TakeMS = append(res.TakeMS, ms(took))
	res.AllocMB = append(res.AllocMB, float64(allocBytes()-alloc0)/(1<<20))
	res.HeapGrowthMB = append(res.HeapGrowthMB, float64(max(maxHeap, heap0)-heap0)/(1<<20))
	res.PeakRSSMB = append(res.PeakRSSMB, peakRSSMB())
	meta, rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("snapshot: open: %w", err)
	}
	rc.Close()
	res.SizeMB = append(res.SizeMB, float64(meta.Size)/(1<<20))
	return nil
}

// sendSnapshot starts a new baton agent, adds it to the leader's Raft
// configuration as a non-voter, and times, from its log, the receipt and
// the restore of the snapshot the leader must send it. The follower is
// removed and stopped after.
func sendSnapshot(ctx context.Context, agent *node.Agent, opts SnapshotOptions, i int, res *SnapshotResult) error {
	root := filepath.Join(opts.Dir, fmt.Sprintf("follower-%d", i))
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	c := procs.NewClusterAt(root, opts.Bin)
	defer c.Close()
	raftAddr, err := procs.FreeAddr()
	if err != nil {
		return err
	}
	httpAddr, err := procs.FreeAddr()
	if err != nil {
		return err
	}
	id := fmt.Sprintf("f%d", i)
	f := c.AddAt(id, raftAddr, httpAddr)
	if err := f.Launch("--log-level", "info"); err != nil {
		return err
	}
	if err := waitFor(ctx, func() bool { return logHas(f.LogPath, "raft started") }); err != nil {
		return fmt.Errorf("snapshot: follower did not start: %w", err)
	}
	start := time.Now()
	if err := agent.Raft().AddNonvoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, 0).Error(); err != nil {
		return fmt.Errorf("snapshot: add follower: %w", err)
	}
	if err := waitFor(ctx, func() bool { return logHas(f.LogPath, "Installed remote snapshot") }); err != nil {
		return fmt.Errorf("snapshot: follower %s did not install the snapshot: %w", id, err)
	}
	installed := time.Since(start)
	at, err := logTimes(f.LogPath, "creating new snapshot", "copied to local snapshot", "Installed remote snapshot")
	if err != nil {
		return err
	}
	res.InstallMS = append(res.InstallMS, ms(installed))
	res.SendMS = append(res.SendMS, ms(at[1].Sub(at[0])))
	res.RestoreMS = append(res.RestoreMS, ms(at[2].Sub(at[1])))
	if err := agent.Raft().RemoveServer(raft.ServerID(id), 0, 0).Error(); err != nil {
		return fmt.Errorf("snapshot: remove follower: %w", err)
	}
	return f.StopWithin(20 * time.Second)
}

// logHas reports whether an agent's JSON log holds a line with message msg.
func logHas(path, msg string) bool {
	_, err := logTimes(path, msg)
	return err == nil
}

// logTimes returns the time of the first line with each message, in
// order, from an agent's JSON log.
func logTimes(path string, msgs ...string) ([]time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make([]time.Time, len(msgs))
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg string `json:"@message"`
			At  string `json:"@timestamp"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		for i, m := range msgs {
			if line.Msg == m && out[i].IsZero() {
				out[i], _ = time.Parse(time.RFC3339Nano, line.At)
			}
		}
	}
	for i, m := range msgs {
		if out[i].IsZero() {
			return nil, fmt.Errorf("%s: no %q line", path, m)
		}
	}
	return out, sc.Err()
}

// heapBytes is the Go heap held by live and not yet swept objects.
func heapBytes() uint64 { return readMetric("/memory/classes/heap/objects:bytes") }

// allocBytes is every byte the process has allocated on the heap.
func allocBytes() uint64 { return readMetric("/gc/heap/allocs:bytes") }

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// sampleHeap samples the heap every interval until the returned function
// is called, which returns the highest sample.
func sampleHeap(ctx context.Context, interval time.Duration) func() uint64 {
	ctx, cancel := context.WithCancel(ctx)
	var peak uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			peak = max(peak, heapBytes())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		cancel()
		wg.Wait()
		return peak
	}
}

// resetPeakRSS resets the process's resident-set high-water mark to its
// current resident set (Linux 4.0 and later).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// rssMB is the process's resident set now.
func rssMB() float64 {
	var kb float64
	fmt.Sscan(procField("/proc/self/status", "VmRSS"), &kb)
	return kb / 1024
}
