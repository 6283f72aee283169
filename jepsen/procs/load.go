package procs

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// LoadOptions shape a client load.
type LoadOptions struct {
	// URL receives every request.
	URL string
	// Rate is the requests a second of all workers together; 0 sends as
	// fast as the workers can.
	Rate int
	// Workers is the number of requests in flight at most (4 when 0).
	Workers int
	// Max bounds the number of requests sent (required).
	Max int
	// Tag starts every request's id, so the ids of several loads never
	// meet.
	Tag string
}

// LoadRequest is one request of a load: what was sent, when, and what
// came back.
type LoadRequest struct {
	// ID names the request: it is the last element of its URL's path, and
	// a POST's body, so a service's request log tells which request
	// arrived (and whether one arrived twice).
	ID     string    `json:"id"`
	Method string    `json:"method"`
	Body   string    `json:"body,omitempty"` // a POST's body is its ID; GETs send none
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Status int       `json:"status"`          // 0 when no answer came
	Err    string    `json:"error,omitempty"` // the client's error, or the answer's body when not 2xx
	// Refused says the connection to the URL could not be opened, so the
	// request never left the client (a client retries these).
	Refused bool `json:"refused,omitempty"`
}

// Failed says whether the request got no 2xx answer although it left the
// client.
func (r LoadRequest) Failed() bool { return !r.Refused && r.Status/100 != 2 }

// Load is a running client load: GETs and POSTs alternating, each request
// with an id of its own in its path (and a POST's body).
type Load struct {
	mu   sync.Mutex
	reqs []LoadRequest
	done chan struct{}
}

// StartLoad sends requests as opts say until ctx ends or opts.Max were
// sent.
func StartLoad(ctx context.Context, opts LoadOptions) *Load {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	l := &Load{done: make(chan struct{})}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: opts.Workers}}
	tickets := make(chan int)
	go func() {
		defer close(tickets)
		var tick <-chan time.Time
		if opts.Rate > 0 {
			t := time.NewTicker(time.Second / time.Duration(opts.Rate))
			defer t.Stop()
			tick = t.C
		}
		for n := 1; n <= opts.Max; n++ {
			if tick != nil {
				select {
				case <-ctx.Done():
					return
				case <-tick:
				}
			}
			select {
			case <-ctx.Done():
				return
			case tickets <- n:
			}
		}
	}()
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range tickets {
				r := LoadRequest{ID: fmt.Sprintf("%s-%d", opts.Tag, n), Method: http.MethodGet}
				if n%2 == 0 {
					r.Method, r.Body = http.MethodPost, r.ID
				}
				l.send(client, strings.TrimSuffix(opts.URL, "/")+"/"+r.ID, &r)
				l.mu.Lock()
				l.reqs = append(l.reqs, r)
				l.mu.Unlock()
			}
		}()
	}
	go func() { wg.Wait(); close(l.done) }()
	return l
}

func (l *Load) send(client *http.Client, url string, r *LoadRequest) {
	req, _ := http.NewRequest(r.Method, url, strings.NewReader(r.Body))
	r.Start = time.Now()
	resp, err := client.Do(req)
	if err != nil {
		r.End = time.Now()
		r.Err = err.Error()
		r.Refused = strings.Contains(r.Err, "connection refused")
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.End = time.Now()
	r.Status = resp.StatusCode
	if r.Status/100 != 2 {
		r.Err = strings.TrimSpace(string(b))
	}
}

// Wait waits until every worker has stopped (after ctx ended or Max was
// reached) and returns every request, in the order they ended.
func (l *Load) Wait() []LoadRequest {
	<-l.done
	return l.Requests()
}

// Requests returns the requests that ended so far.
func (l *Load) Requests() []LoadRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LoadRequest(nil), l.reqs...)
}
