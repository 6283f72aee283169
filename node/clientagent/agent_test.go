package clientagent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
)

// fakeServers plays the servers' side of the pull protocol: it offers the
// steps it is given with every poll until they are reported, and records
// registrations, polls and notices (refusing the first refuseNotices
// notices with 503, as a server without a leader would).
type fakeServers struct {
	mu            sync.Mutex
	registered    []api.ClientRegistration
	offer         []api.StepRequest
	reports       []api.StepStatus
	notices       []api.Notice
	refuseNotices int
	unsigned      int
}

func (f *fakeServers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get(nodeauth.Header) == "" {
		f.unsigned++
	}
	switch {
	case r.URL.Path == "/v1/clients":
		var reg api.ClientRegistration
		_ = json.NewDecoder(r.Body).Decode(&reg)
		f.registered = append(f.registered, reg)
		_ = json.NewEncoder(w).Encode(api.Member{ID: reg.ID, Version: reg.Version, Client: true})
	case strings.HasSuffix(r.URL.Path, "/poll"):
		var req api.PollRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.reports = req.Steps
		var out []api.StepRequest
		for _, s := range f.offer {
			reported := false
			for _, st := range req.Steps {
				reported = reported || (st.TxnID == s.TxnID && st.Attempt == s.Attempt)
			}
			if !reported {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			f.mu.Unlock()
			time.Sleep(20 * time.Millisecond) // a short hold, as a server's long poll
			f.mu.Lock()
		}
		_ = json.NewEncoder(w).Encode(api.PollResponse{Steps: out, Cancels: []api.CancelOrder{}, LeaseMillis: 10000})
	case r.URL.Path == "/v1/internal/notices":
		if f.refuseNotices > 0 {
			f.refuseNotices--
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: "no leader", Code: api.CodeNoLeader})
			return
		}
		var n api.Notice
		_ = json.NewDecoder(r.Body).Decode(&n)
		f.notices = append(f.notices, n)
		_ = json.NewEncoder(w).Encode(map[string]string{"acknowledged": n.TxnID})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeServers) snapshot() (regs []api.ClientRegistration, notices []api.Notice) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append(regs, f.registered...), append(notices, f.notices...)
}

// hooks writes an install hook that counts its runs and sleeps, and a
// version hook.
func hooks(t *testing.T, dir string, sleep string) config.Hooks {
	t.Helper()
	install := filepath.Join(dir, "install.sh")
	version := filepath.Join(dir, "version.sh")
	must(t, os.WriteFile(install, []byte("#!/bin/sh\necho run >> "+dir+"/installs\nsleep "+sleep+"\necho \"$BATON_TARGET_VERSION\" > "+dir+"/version\n"), 0o755))
	must(t, os.WriteFile(version, []byte("#!/bin/sh\ncat "+dir+"/version 2>/dev/null || echo 1.0.0\n"), 0o755))
	return config.Hooks{Install: install, Version: version, Timeout: time.Minute}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func installs(dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, "installs"))
	return strings.Count(string(b), "run")
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func start(t *testing.T, dir string, h config.Hooks, servers ...string) *Agent {
	t.Helper()
	a, err := Start(Config{ID: "c1", DataDir: filepath.Join(dir, "data"), Servers: servers, Hooks: h,
		Protocol: fsm.ProtocolRange{Min: 2, Max: 3}, PollWait: 50 * time.Millisecond})
	must(t, err)
	return a
}

var offered = api.StepRequest{TxnID: "t-1", Node: "c1", Attempt: 1, TargetVersion: "2.0.0", FromVersion: "1.0.0", ProtocolVersion: 3}

// A client registers (signed, with its key and version), takes the step
// its poll brings, runs it once although it is offered again and again
// until reported, and sends its notice until a server acknowledges it.
func TestAClientTakesItsStepOnceAndNoticesUntilAcknowledged(t *testing.T) {
	dir := t.TempDir()
	f := &fakeServers{offer: []api.StepRequest{offered}, refuseNotices: 3}
	srv := httptest.NewServer(f)
	defer srv.Close()
	// The first server of the list is down: the client moves on.
	a := start(t, dir, hooks(t, dir, "0.2"), "127.0.0.1:1", srv.URL)
	defer a.Stop()
	select {
	case <-a.Registered():
	case err := <-a.Fatal():
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("not registered")
	}
	regs, _ := f.snapshot()
	if len(regs) != 1 || regs[0].Version != "1.0.0" || !strings.HasPrefix(regs[0].NodeKey, "ed25519:") {
		t.Fatalf("registrations = %+v", regs)
	}
	eventually(t, "the notice is acknowledged", func() bool { _, n := f.snapshot(); return len(n) == 1 })
	_, notices := f.snapshot()
	if n := notices[0]; n.State != api.StepDone || n.Version != "2.0.0" || n.Attempt != 1 {
		t.Fatalf("notice = %+v", n)
	}
	if got := installs(dir); got != 1 {
		t.Fatalf("install ran %d times, want once", got)
	}
	if f.unsigned != 0 {
		t.Fatalf("%d unsigned requests", f.unsigned)
	}
	eventually(t, "the acknowledged attempt is no longer reported", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.reports) == 0
	})
}

// A client stopped during its install comes back from its journal: the
// install (killed by the stop) is not run again, and the attempt's notice
// is sent after the restart. It reports what the version hook then says:
// the install did not finish, so the attempt failed.
func TestAClientStoppedDuringItsInstallResumesWithoutRunningItAgain(t *testing.T) {
	dir := t.TempDir()
	f := &fakeServers{offer: []api.StepRequest{offered}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	h := hooks(t, dir, "1")
	a := start(t, dir, h, srv.URL)
	eventually(t, "the install begins", func() bool { return installs(dir) == 1 })
	a.Stop()
	if _, n := f.snapshot(); len(n) != 0 {
		t.Fatalf("a notice before the install ended: %+v", n)
	}
	a = start(t, dir, h, srv.URL)
	defer a.Stop()
	eventually(t, "the notice after the restart", func() bool { _, n := f.snapshot(); return len(n) == 1 })
	_, notices := f.snapshot()
	if n := notices[0]; n.State != api.StepFailed || n.Attempt != 1 || !strings.Contains(n.Error, "2.0.0") {
		t.Fatalf("notice = %+v; want attempt 1 failed: the killed install never wrote 2.0.0", n)
	}
	if got := installs(dir); got != 1 {
		t.Fatalf("install ran %d times, want once", got)
	}
}

func TestStartRefusesABadConfig(t *testing.T) {
	dir := t.TempDir()
	for name, cfg := range map[string]Config{
		"bad id":     {ID: "../x", DataDir: dir, Servers: []string{"127.0.0.1:1"}},
		"no servers": {ID: "c1", DataDir: dir},
		"no dir":     {ID: "c1", Servers: []string{"127.0.0.1:1"}},
	} {
		if _, err := Start(cfg); err == nil {
			t.Errorf("%s: started", name)
		}
	}
}
