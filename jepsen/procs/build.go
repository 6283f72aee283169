package procs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// BuildOptions are the link-time stamps of a baton build.
type BuildOptions struct {
	Version     string
	ProtocolMin int
	ProtocolMax int
}

func (o BuildOptions) ldflags() string {
	const pkg = "github.com/baton-upgrade/baton/internal/build"
	var parts []string
	if o.Version != "" {
		parts = append(parts, fmt.Sprintf("-X %s.Version=%s", pkg, o.Version))
	}
	if o.ProtocolMin > 0 {
		parts = append(parts, fmt.Sprintf("-X %s.ProtocolMin=%d", pkg, o.ProtocolMin))
	}
	if o.ProtocolMax > 0 {
		parts = append(parts, fmt.Sprintf("-X %s.ProtocolMax=%d", pkg, o.ProtocolMax))
	}
	return strings.Join(parts, " ")
}

var (
	buildMu    sync.Mutex
	buildCache = map[BuildOptions]string{}
)

// Build compiles cmd/baton with the given stamps into dir and returns the
// binary's path. Builds are cached per options within the test process.
func Build(dir string, o BuildOptions) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[o]; ok {
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, fmt.Sprintf("baton-%s-p%d-%d", o.Version, o.ProtocolMin, o.ProtocolMax))
	cmd := exec.Command("go", "build", "-o", out, "-ldflags", o.ldflags(), "./cmd/baton")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, b)
	}
	buildCache[o] = out
	return out, nil
}

// moduleRoot finds the directory holding go.mod above this source file.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the module root")
	}
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above %s", file)
		}
		dir = parent
	}
}

// RunTests is a test package's TestMain: it makes a scratch directory
// (named after prefix), hands it to build (which builds the binaries the
// package's tests start), runs the tests, removes the directory and exits
// with the tests' status. A build that fails ends the run with status 1.
func RunTests(m *testing.M, prefix string, build func(dir string) error) {
	dir, err := os.MkdirTemp("", prefix)
	if err == nil {
		err = build(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
