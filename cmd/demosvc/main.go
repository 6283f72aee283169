// Command demosvc is the toy service `make demo` and `make demo-gateway`
// upgrade: an HTTP server that answers with its node's name and the version
// in its version file, a `check` mode that health hooks use to ask it, and a
// `load` mode: a bounded client load that counts what failed.
//
//	demosvc serve --node n1 --addr 127.0.0.1:9011 --version-file v [--log FILE]
//	demosvc check --addr 127.0.0.1:9011
//	demosvc load  --url http://127.0.0.1:9000 [--rate 200] [--duration 60s] [--json]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: demosvc serve|check|load [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "check":
		err = check(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q: want serve, check or load", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demosvc:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	node := fs.String("node", "", "node name to answer with")
	addr := fs.String("addr", "127.0.0.1:9011", "listen address")
	versionFile := fs.String("version-file", "", "file holding the installed version")
	logFile := fs.String("log", "", "append one line per request received: UNIX_NANOS METHOD PATH BODY")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(*versionFile)
	if err != nil {
		return err
	}
	// The version is read once, at start: like a real service, a new
	// version only shows after a restart.
	version := strings.TrimSpace(string(b))
	var record func(r *http.Request, body []byte)
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		var mu sync.Mutex
		record = func(r *http.Request, body []byte) {
			line := fmt.Sprintf("%d %s %s %q\n", time.Now().UnixNano(), r.Method, r.URL.Path, body)
			mu.Lock()
			defer mu.Unlock()
			_, _ = f.WriteString(line)
		}
	}
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if record != nil {
				record(r, body)
			}
			fmt.Fprintf(w, "%s serves version %s\n", *node, version)
		})}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func check(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9011", "service address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + *addr + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", *addr, resp.Status)
	}
	fmt.Print(string(b))
	return nil
}
