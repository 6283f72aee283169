package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// FsyncLatency appends 4 KiB blocks to a file in dir and times each
// fdatasync, the call bbolt (and so raft-boltdb and the step journal) makes
// on every commit. It returns n samples after a short warm-up.
func FsyncLatency(dir string, n int) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "fsync-*.dat")
	if err != nil {
		return nil, fmt.Errorf("fsync: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, 4096)
	var out []time.Duration
	for i := range n + 10 {
		if _, err := f.Write(block); err != nil {
			return nil, fmt.Errorf("fsync: write: %w", err)
		}
		start := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return nil, fmt.Errorf("fsync: %w", err)
		}
		if i >= 10 {
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

// LoopbackRTT times n round trips of a 64-byte message over one TCP
// connection to an echo server on 127.0.0.1.
func LoopbackRTT(n int) ([]time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loopback: %w", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("loopback: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	msg, buf := make([]byte, 64), make([]byte, 64)
	var out []time.Duration
	for i := range n + 100 {
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			return nil, fmt.Errorf("loopback: write: %w", err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return nil, fmt.Errorf("loopback: read: %w", err)
		}
		if i >= 100 {
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

// HTTPRoundTrip times n small JSON requests to an HTTP server on 127.0.0.1
// over a kept-alive connection: the floor of one call between two agents.
func HTTPRoundTrip(n int) ([]time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"state":"running"}`))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	url := "http://" + ln.Addr().String() + "/v1/internal/steps"
	var out []time.Duration
	for i := range n + 50 {
		start := time.Now()
		resp, err := client.Post(url, "application/json", bytesReader(`{"txn_id":"t-1","node":"n2","attempt":1}`))
		if err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if i >= 50 {
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

// RaftCommit starts a bare hashicorp/raft cluster in this process (voters
// plus nonvoters, raft-boltdb stores under dir, TCP transports on
// 127.0.0.1, the library's default timings), then times n Applies of a
// 256-byte entry one after another, each from Apply until its future
// returns: replicated to a quorum, fsynced and applied on the leader.
func RaftCommit(ctx context.Context, dir string, voters, nonvoters, n int) ([]time.Duration, error) {
	rc, err := startRawRaft(ctx, dir, voters, nonvoters, 1)
	if err != nil {
		return nil, err
	}
	defer rc.close()
	leader := rc.leader()
	payload := make([]byte, 256)
	var out []time.Duration
	for i := range n + 20 {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		start := time.Now()
		if err := leader.Apply(payload, 5*time.Second).Error(); err != nil {
			return nil, fmt.Errorf("raft apply: %w", err)
		}
		if i >= 20 {
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

// RaftTransfer times n leadership transfers of a bare hashicorp/raft cluster
// of the given size, each followed by one commit on the new leader: the
// floor under Baton's handoff.
func RaftTransfer(ctx context.Context, dir string, voters, n int) ([]time.Duration, error) {
	rc, err := startRawRaft(ctx, dir, voters, 0, 1)
	if err != nil {
		return nil, err
	}
	defer rc.close()
	var out []time.Duration
	for len(out) < n {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		old := rc.leader()
		start := time.Now()
		if err := old.LeadershipTransfer().Error(); err != nil {
			// An immediate retry may find the previous transfer still
			// settling; back off a little and try again.
			time.Sleep(20 * time.Millisecond)
			continue
		}
		next := rc.waitLeader(old)
		if next == nil {
			return out, errors.New("raft transfer: no new leader within 10s")
		}
		if err := next.Apply(make([]byte, 256), 5*time.Second).Error(); err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

func rawRaftDir(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("raft-%d", i)) }
