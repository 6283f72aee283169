package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// loadResult is what a load run counts. A request failed when it got no
// answer or an answer other than 2xx.
type loadResult struct {
	Requests   int            `json:"requests"`
	Failed     int            `json:"failed"`
	ByMethod   map[string]int `json:"by_method"`
	FailedBy   map[string]int `json:"failed_by_method"`
	Errors     map[string]int `json:"errors,omitempty"` // status or error text -> count
	P50Millis  float64        `json:"p50_ms"`
	P99Millis  float64        `json:"p99_ms"`
	DurationMS int64          `json:"duration_ms"`
}

// load sends GETs and POSTs, alternating, to --url at --rate a second
// from --concurrency workers, until --duration passes, --requests were
// sent, or SIGINT/SIGTERM; then prints what it counted. Each POST carries
// a body no other request carries, so a service log shows whether one
// arrived twice.
func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	url := fs.String("url", "", "URL to send requests to")
	rate := fs.Int("rate", 200, "requests a second, all workers together")
	duration := fs.Duration("duration", 60*time.Second, "stop after this long at most")
	maxRequests := fs.Int("requests", 0, "stop after this many requests (0: no limit)")
	concurrency := fs.Int("concurrency", 16, "requests in flight at most")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	label := fs.String("label", "load", "name printed with the result")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *rate <= 0 || *concurrency <= 0 {
		return fmt.Errorf("load needs --url, and a positive --rate and --concurrency")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}
	var (
		mu    sync.Mutex
		res   = loadResult{ByMethod: map[string]int{}, FailedBy: map[string]int{}, Errors: map[string]int{}}
		lats  []time.Duration
		seq   atomic.Int64
		wg    sync.WaitGroup
		slots = make(chan struct{}, *concurrency)
	)
	pid := os.Getpid()
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	start := time.Now()
send:
	for *maxRequests == 0 || int(seq.Load()) < *maxRequests {
		select {
		case <-ctx.Done():
			break send
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			break send
		case slots <- struct{}{}:
		}
		n := seq.Add(1)
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			method, body := http.MethodGet, ""
			if n%2 == 0 {
				method, body = http.MethodPost, fmt.Sprintf("req-%d-%d", pid, n)
			}
			req, _ := http.NewRequest(method, *url, strings.NewReader(body))
			t0 := time.Now()
			resp, err := client.Do(req)
			outcome := ""
			if err != nil {
				outcome = "error: " + shortError(err)
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					outcome = resp.Status
				}
			}
			lat := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			res.Requests++
			res.ByMethod[method]++
			lats = append(lats, lat)
			if outcome != "" {
				res.Failed++
				res.FailedBy[method]++
				res.Errors[outcome]++
			}
		}()
	}
	wg.Wait()
	res.DurationMS = time.Since(start).Milliseconds()
	slices.Sort(lats)
	if len(lats) > 0 {
		res.P50Millis = float64(lats[len(lats)/2].Microseconds()) / 1000
		res.P99Millis = float64(lats[len(lats)*99/100].Microseconds()) / 1000
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("%s: %d requests (%d GET, %d POST) in %.1fs, %d failed (%d GET, %d POST); latency p50 %.2f ms, p99 %.2f ms\n",
		*label, res.Requests, res.ByMethod["GET"], res.ByMethod["POST"], float64(res.DurationMS)/1000,
		res.Failed, res.FailedBy["GET"], res.FailedBy["POST"], res.P50Millis, res.P99Millis)
	for what, n := range res.Errors {
		fmt.Printf("  %6d  %s\n", n, what)
	}
	return nil
}

// shortError keeps the last part of a client error ("connection refused").
func shortError(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
