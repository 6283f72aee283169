package gateway

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// testNode is a real HTTP server that records the bodies it received.
type testNode struct {
	id  string
	srv *httptest.Server
	mu  sync.Mutex
	got []string // "METHOD body" per request received
}

func (n *testNode) addr() string { return n.srv.Listener.Addr().String() }

func (n *testNode) record(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	n.mu.Lock()
	n.got = append(n.got, r.Method+" "+string(b))
	n.mu.Unlock()
}

func (n *testNode) received() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

// answeringNode answers every request with its id.
func answeringNode(t *testing.T, id string) *testNode {
	n := &testNode{id: id}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.record(r)
		io.WriteString(w, id)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

// hangingUpNode reads each request whole, then writes raw (possibly
// nothing) and closes the connection: a node that fails after the
// request was sent, before or while it answers.
func hangingUpNode(t *testing.T, id, raw string) *testNode {
	n := &testNode{id: id}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.record(r)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		buf.WriteString(raw)
		buf.Flush()
		conn.Close()
	}))
	t.Cleanup(n.srv.Close)
	return n
}

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func newTestProxy(t *testing.T, opts ProxyOptions, s State) (*Proxy, *httptest.Server) {
	p := NewProxy(opts)
	p.SetView(NewView(s))
	front := httptest.NewServer(p)
	t.Cleanup(func() { front.Close(); p.Close() })
	return p, front
}

func members(pairs ...string) []Member {
	var out []Member
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, Member{ID: pairs[i], ServiceAddr: pairs[i+1]})
	}
	return out
}

func do(t *testing.T, method, url, body string) (int, string) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRefusedConnectionGoesToTheRingSuccessor(t *testing.T) {
	b, c := answeringNode(t, "b"), answeringNode(t, "c")
	p, front := newTestProxy(t, ProxyOptions{}, State{
		Members: members("a", refusedAddr(t), "b", b.addr(), "c", c.addr()),
		Ring:    []string{"a", "b", "c"},
	})
	const n = 30
	for i := range n {
		method := http.MethodPost
		if i%2 == 0 {
			method = http.MethodGet
		}
		code, body := do(t, method, front.URL+"/x", "req")
		require.Equal(t, http.StatusOK, code, body)
	}
	// Requests are spread evenly; a's third all went to b, a's successor.
	fromA := testutil.ToFloat64(p.metrics.forwards.WithLabelValues("a", "b"))
	require.Equal(t, float64(n/3), fromA)
	require.Zero(t, testutil.ToFloat64(p.metrics.forwards.WithLabelValues("a", "c")))
	require.Len(t, b.received(), n/3+n/3)
	require.Len(t, c.received(), n/3)
	require.Zero(t, testutil.ToFloat64(p.metrics.retries), "a refused connection carried nothing: no retry")
	require.Equal(t, float64(n/3), testutil.ToFloat64(p.metrics.failures.WithLabelValues(causeConnect)))
}

func TestSuccessorSkipsNodesOutOfRotationAndRefusing(t *testing.T) {
	d := answeringNode(t, "d")
	// a refuses, b is out of rotation, c refuses too: d takes a's request.
	b := answeringNode(t, "b")
	_, front := newTestProxy(t, ProxyOptions{}, State{
		Members: members("a", refusedAddr(t), "b", b.addr(), "c", refusedAddr(t), "d", d.addr()),
		Ring:    []string{"a", "b", "c", "d"},
		Out:     map[string]string{"b": "step running"},
	})
	for range 9 {
		code, body := do(t, http.MethodPost, front.URL+"/", "once")
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, "d", body)
	}
	require.Empty(t, b.received(), "a node out of rotation gets nothing, not even forwards")
	require.Len(t, d.received(), 9)
}

func TestNonIdempotentRequestIsNotSentTwice(t *testing.T) {
	for name, raw := range map[string]string{
		"request written, no answer":          "",
		"answer begun, header cut":            "HTTP/1.1 200 OK\r\nContent-Le",
		"answer begun, malformed status line": "HTTP/1.1 2",
	} {
		t.Run(name, func(t *testing.T) {
			a, b := hangingUpNode(t, "a", raw), answeringNode(t, "b")
			p, front := newTestProxy(t, ProxyOptions{}, State{
				Members: members("a", a.addr(), "b", b.addr()),
				Ring:    []string{"a", "b"},
			})
			// b looks busy, so every first attempt goes to a; b is a's successor.
			p.load("b").inFlight.Add(1000)
			for _, method := range []string{http.MethodPost, http.MethodPatch} {
				code, body := do(t, method, front.URL+"/", method+"-body")
				require.Equal(t, http.StatusBadGateway, code)
				require.Contains(t, body, "is not idempotent")
				require.Contains(t, body, "node a")
			}
			require.Equal(t, []string{"POST POST-body", "PATCH PATCH-body"}, a.received())
			require.Empty(t, b.received(), "a non-idempotent body that may have arrived is never sent elsewhere")

			// The idempotent methods go on to the successor.
			for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
				code, body := do(t, method, front.URL+"/", method+"-body")
				require.Equal(t, http.StatusOK, code, body)
				require.Equal(t, "b", body)
			}
			require.Equal(t, []string{"GET GET-body", "PUT PUT-body", "DELETE DELETE-body"}, b.received())
			require.Equal(t, float64(3), testutil.ToFloat64(p.metrics.retries))
		})
	}
}

func TestAnswerBrokenAfterItsHeaderIsNotRetried(t *testing.T) {
	a := hangingUpNode(t, "a", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
	b := answeringNode(t, "b")
	p, front := newTestProxy(t, ProxyOptions{}, State{Members: members("a", a.addr(), "b", b.addr()), Ring: []string{"a", "b"}})
	p.load("b").inFlight.Add(1000)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, err := http.NewRequest(method, front.URL+"/", strings.NewReader("x"))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		if err == nil { // the header went through; the body must not look whole
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		require.Error(t, err, "%s: a broken answer reaches the client as broken", method)
	}
	require.Len(t, a.received(), 2)
	require.Empty(t, b.received(), "the client already has part of an answer: nothing is sent again")
	require.Equal(t, float64(2), testutil.ToFloat64(p.metrics.failures.WithLabelValues(causeResponse)))
}

func TestBodyOverTheLimitIsRefused(t *testing.T) {
	a := answeringNode(t, "a")
	p, front := newTestProxy(t, ProxyOptions{MaxBody: 1024}, State{Members: members("a", a.addr())})
	code, body := do(t, http.MethodPost, front.URL+"/", strings.Repeat("x", 1024))
	require.Equal(t, http.StatusOK, code, body)

	code, body = do(t, http.MethodPost, front.URL+"/", strings.Repeat("x", 1025))
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.Contains(t, body, "at most 1024")

	// A chunked body of unknown length is cut at the limit too.
	req, err := http.NewRequest(http.MethodPut, front.URL+"/", io.MultiReader(strings.NewReader(strings.Repeat("y", 2000))))
	require.NoError(t, err)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

	require.Len(t, a.received(), 1, "refused bodies never reach a node")
	require.Equal(t, float64(2), testutil.ToFloat64(p.metrics.requests.WithLabelValues(outcomeRejected, "4xx")))
}

func TestRotationFollowsTheView(t *testing.T) {
	a, b, c := answeringNode(t, "a"), answeringNode(t, "b"), answeringNode(t, "c")
	all := members("a", a.addr(), "b", b.addr(), "c", c.addr())
	ring := []string{"a", "b", "c"}
	p, front := newTestProxy(t, ProxyOptions{}, State{Index: 5, Members: all, Ring: ring, Out: map[string]string{"b": "step running"}})
	for range 10 {
		code, body := do(t, http.MethodGet, front.URL+"/", "")
		require.Equal(t, http.StatusOK, code)
		require.NotEqual(t, "b", body)
	}
	require.Empty(t, b.received())

	p.SetView(NewView(State{Index: 6, Members: all, Ring: ring}))
	for range 9 {
		code, _ := do(t, http.MethodGet, front.URL+"/", "")
		require.Equal(t, http.StatusOK, code)
	}
	require.Len(t, b.received(), 3, "back in rotation, b gets its share")

	// A member without a service address, and a removed member, get nothing.
	p.SetView(NewView(State{Index: 7, Members: members("a", a.addr(), "b", ""), Ring: ring}))
	before := len(b.received())
	for range 6 {
		code, body := do(t, http.MethodGet, front.URL+"/", "")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "a", body)
	}
	require.Len(t, b.received(), before)
}

func TestNoViewOrNoNodeIsUnavailable(t *testing.T) {
	p := NewProxy(ProxyOptions{})
	front := httptest.NewServer(p)
	defer front.Close()
	code, body := do(t, http.MethodGet, front.URL+"/", "")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "has not read the cluster")

	p.SetView(NewView(State{Index: 3, Members: members("a", "127.0.0.1:1"), Out: map[string]string{"a": "step running"}}))
	code, body = do(t, http.MethodGet, front.URL+"/", "")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "no node in rotation")
}

func TestEveryNodeRefusingFailsWithA502(t *testing.T) {
	_, front := newTestProxy(t, ProxyOptions{}, State{Members: members("a", refusedAddr(t), "b", refusedAddr(t)), Ring: []string{"a", "b"}})
	code, body := do(t, http.MethodPost, front.URL+"/", "x")
	require.Equal(t, http.StatusBadGateway, code)
	require.Contains(t, body, "no other node in rotation was left")
}

func TestNoFailoverTriesOneNode(t *testing.T) {
	b := answeringNode(t, "b")
	p, front := newTestProxy(t, ProxyOptions{NoFailover: true}, State{Members: members("a", refusedAddr(t), "b", b.addr()), Ring: []string{"a", "b"}})
	p.load("b").inFlight.Add(1000)
	code, body := do(t, http.MethodGet, front.URL+"/", "")
	require.Equal(t, http.StatusBadGateway, code)
	require.Contains(t, body, "could not connect to node a")
	require.Empty(t, b.received())
}

func TestRequestReachesTheNodeIntact(t *testing.T) {
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("X-Answer", "yes")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	}))
	defer srv.Close()
	_, front := newTestProxy(t, ProxyOptions{}, State{Members: members("a", srv.Listener.Addr().String())})
	req, _ := http.NewRequest(http.MethodPost, front.URL+"/items/7?x=1", strings.NewReader("payload"))
	req.Host = "service.example"
	req.Header.Set("X-Client", "c1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, "made", string(b))
	require.Equal(t, "yes", resp.Header.Get("X-Answer"))
	require.Equal(t, "/items/7", got.URL.Path)
	require.Equal(t, "x=1", got.URL.RawQuery)
	require.Equal(t, "service.example", got.Host)
	require.Equal(t, "c1", got.Header.Get("X-Client"))
	require.Equal(t, "127.0.0.1", got.Header.Get("X-Forwarded-For"))
	require.Equal(t, "payload", body)
}
