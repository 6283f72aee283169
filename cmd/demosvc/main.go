// Command demosvc is the toy service `make demo` upgrades: an HTTP server
// that answers with its node's name and the version in its version file, and
// a `check` mode that health hooks use to ask it.
//
//	demosvc serve --node n1 --addr 127.0.0.1:9011 --version-file v
//	demosvc check --addr 127.0.0.1:9011
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
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: demosvc serve|check [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "check":
		err = check(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q: want serve or check", os.Args[1])
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
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	resp, err := c.Get("http://" + *addr + "/")
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
