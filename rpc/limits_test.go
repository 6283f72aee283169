package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// endlessJSON is a body that never ends and declares no length: a JSON
// string that goes on past any limit.
type endlessJSON struct{ started bool }

func (e *endlessJSON) Read(p []byte) (int, error) {
	n := 0
	if !e.started {
		p[0], n, e.started = '{', 1, true
		n += copy(p[1:], `"id":"`)
	}
	for ; n < len(p); n++ {
		p[n] = 'a'
	}
	return n, nil
}

// A body over the limit is refused with 413 and the code too_large, not a
// 400 about a cut-off JSON, whether it declares its length or not, asked
// of the leader or of a follower that would forward it; nothing is
// applied.
func TestOversizedBodyIs413AndNothingApplied(t *testing.T) {
	leader, _, lsrv, fsrv := pair(t, "")
	for via, url := range map[string]string{"leader": lsrv.URL, "follower": fsrv.URL} {
		for name, body := range map[string]func() io.Reader{
			"declared": func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte("a"), maxBody+1)) },
			"chunked":  func() io.Reader { return io.LimitReader(&endlessJSON{}, 4*maxBody) },
		} {
			t.Run(via+" "+name, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodPost, url+"/v1/members", body())
				require.NoError(t, err)
				if name == "chunked" {
					req.ContentLength = -1
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
				var eb api.ErrorBody
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&eb))
				require.Equal(t, api.CodeTooLarge, eb.Code)
				require.Contains(t, eb.Error, "over the limit of 1048576 bytes")
			})
		}
	}
	require.Empty(t, leader.joins)
	// A body just under the limit is still read and judged on its content.
	req, _ := http.NewRequest(http.MethodPost, lsrv.URL+"/v1/members", strings.NewReader(`{"id":"n3"}`))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// limitedServer serves b's API on loopback with the given limits, through
// the same wrappers as the agent (HTTPLimits.Server and .Listener).
func limitedServer(t *testing.T, b *fakeBackend, l HTTPLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := l.Server(NewServer(b, ServerOptions{}))
	go func() { _ = srv.Serve(l.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func quickLimits() HTTPLimits {
	return HTTPLimits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: 10 * time.Second,
		IdleTimeout: time.Second}
}

// dialFrom opens a connection to addr from the loopback address from
// (127.0.0.1, 127.0.0.2...), as a distinct client.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// endsWithin reads c until the server answers or closes it, and fails
// unless that happens within d. It returns what the server sent.
func endsWithin(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open over %s", d)
	}
	return string(b)
}

// Slowloris: 40 clients each declare a 1000-byte body and send one byte a
// tenth of a second. The read timeout (1 s here) ends every one of them,
// nothing is applied, and other clients are served meanwhile.
func TestSlowBodiesAreCutOffByTheReadTimeout(t *testing.T) {
	leader := &fakeBackend{id: "n1", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	addr := limitedServer(t, leader, quickLimits())
	conns := make([]net.Conn, 40)
	for i := range conns {
		conns[i] = dialFrom(t, "127.0.0.1", addr)
		_, err := io.WriteString(conns[i], "POST /v1/members HTTP/1.1\r\nHost: baton\r\nContent-Type: application/json\r\n"+
			"Content-Length: 1000\r\n\r\n{")
		require.NoError(t, err)
	}
	stop := make(chan struct{})
	defer close(stop)
	for _, c := range conns {
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/v1/members")
	require.NoError(t, err, "another client is served during the attack")
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	start := time.Now()
	for _, c := range conns {
		answer := endsWithin(t, c, 10*time.Second)
		require.NotContains(t, answer, "200 OK")
	}
	require.Less(t, time.Since(start), 10*time.Second)
	require.Empty(t, leader.joins, "nothing was applied")
}

// A long poll waits longer than the read timeout: the timeout bounds
// reading the request, not the answer's wait.
func TestLongPollOutlivesTheReadTimeout(t *testing.T) {
	b := &fakeBackend{id: "n1", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	l := quickLimits()
	l.ReadTimeout = 300 * time.Millisecond
	addr := limitedServer(t, b, l)
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/v1/members?index=99&wait=1500ms")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.GreaterOrEqual(t, time.Since(start), 1400*time.Millisecond, "the poll waited its whole wait")
}

// Idle flood: 30 connections from one client that send nothing. Past the
// per-client limit (10 here) each is answered 429 and closed at once; the
// ten admitted are closed by the header timeout; another client is served
// all along, and the first again once its connections are gone.
func TestIdleConnectionFloodIsBoundedPerClient(t *testing.T) {
	b := &fakeBackend{id: "n1", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	l := quickLimits()
	l.MaxConnsPerClient = 10
	logged := &lockedBuffer{}
	l.Logger = hclog.New(&hclog.LoggerOptions{Output: logged})
	addr := limitedServer(t, b, l)
	var refused, admitted []net.Conn
	for i := range 30 {
		c := dialFrom(t, "127.0.0.1", addr)
		if i < 10 {
			admitted = append(admitted, c)
			// Let the server count it before the next one comes.
			time.Sleep(10 * time.Millisecond)
		} else {
			refused = append(refused, c)
		}
	}
	for _, c := range refused {
		answer := endsWithin(t, c, 2*time.Second)
		require.Contains(t, answer, "429 Too Many Requests")
		require.Contains(t, answer, `"code":"too_many_requests"`)
	}
	require.Equal(t, 1, strings.Count(logged.String(), "over the per-client limit"), "one warning for the flood: %s", logged)
	other := dialFrom(t, "127.0.0.2", addr)
	_, err := io.WriteString(other, "GET /v1/health HTTP/1.1\r\nHost: baton\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	require.Contains(t, endsWithin(t, other, 5*time.Second), "200 OK", "another client is served")

	for _, c := range admitted {
		endsWithin(t, c, 5*time.Second) // the header timeout closes it
	}
	require.Eventually(t, func() bool {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/v1/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "the client is served again once its connections closed")
}

// The overall limit: with 5 connections open, the listener accepts no
// more until one closes; a request waits (in the kernel's backlog) rather
// than taking a descriptor, and is served once the idle ones time out.
func TestOverallConnectionLimitWaitsForAFreeSlot(t *testing.T) {
	b := &fakeBackend{id: "n1", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	l := quickLimits()
	l.MaxConns = 5
	addr := limitedServer(t, b, l)
	for range 5 {
		dialFrom(t, "127.0.0.1", addr)
	}
	time.Sleep(100 * time.Millisecond) // all five accepted
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/v1/health")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond, "it waited for an idle connection to time out")
}

// lockedBuffer is a log output safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
