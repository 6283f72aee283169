package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsimple"
)

// fileConfig is the on-disk shape. Every field is optional so that an absent
// key takes its default, while an unknown key is reported by the decoder.
type fileConfig struct {
	Upgrade *fileHooks        `hcl:"upgrade,block"`
	Labels  map[string]string `hcl:"labels,optional"`
	// ServiceAddr is the node's service address (S2's failover ring).
	ServiceAddr string `hcl:"service_addr,optional"`
}

type fileHooks struct {
	Drain    string `hcl:"drain,optional"`
	Install  string `hcl:"install,optional"`
	Restart  string `hcl:"restart,optional"`
	Health   string `hcl:"health,optional"`
	Version  string `hcl:"version,optional"`
	Rollback string `hcl:"rollback,optional"`
	Role     string `hcl:"role,optional"`
	Promote  string `hcl:"promote,optional"`
	Demote   string `hcl:"demote,optional"`
	Follow   string `hcl:"follow,optional"`
	Lag      string `hcl:"lag,optional"`
	Timeout  string `hcl:"timeout,optional"`
}

// Load reads and validates the config file at path. The extension picks the
// syntax: ".json" or ".hcl"; any other extension is an error. A missing file
// gives an error wrapping fs.ErrNotExist. Decoding errors (unknown keys,
// wrong types, a bad timeout) name the file, the key and its value.
func Load(path string) (File, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".json", ".hcl":
	default:
		return File{}, fmt.Errorf("load config %s: unsupported extension %q (want .json or .hcl)", path, ext)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("load config: %w", err)
	}
	var raw fileConfig
	if err := hclsimple.Decode(path, src, nil, &raw); err != nil {
		return File{}, fmt.Errorf("load config %s: %w", path, describe(err, src))
	}
	return raw.resolve(path)
}

func (raw fileConfig) resolve(path string) (File, error) {
	cfg := File{Labels: raw.Labels, ServiceAddr: raw.ServiceAddr}
	if err := validateServiceAddr(raw.ServiceAddr); err != nil {
		return File{}, fmt.Errorf("load config %s: %w", path, err)
	}
	if raw.Upgrade == nil {
		return cfg, nil
	}
	h := raw.Upgrade
	cfg.Upgrade = Hooks{
		Drain:    h.Drain,
		Install:  h.Install,
		Restart:  h.Restart,
		Health:   h.Health,
		Version:  h.Version,
		Rollback: h.Rollback,
		Role:     h.Role,
		Promote:  h.Promote,
		Demote:   h.Demote,
		Follow:   h.Follow,
		Lag:      h.Lag,
		Timeout:  DefaultTimeout,
	}
	if h.Timeout != "" {
		d, err := time.ParseDuration(h.Timeout)
		if err != nil {
			return File{}, fmt.Errorf("load config %s: upgrade.timeout = %q: %w", path, h.Timeout, err)
		}
		if d <= 0 {
			return File{}, fmt.Errorf("load config %s: upgrade.timeout = %q: must be positive", path, h.Timeout)
		}
		cfg.Upgrade.Timeout = d
	}
	return cfg, nil
}

// validateServiceAddr checks service_addr: empty, or HOST:PORT with a host
// and a port in 1..65535.
func validateServiceAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("service_addr = %q: want HOST:PORT", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("service_addr = %q: the port must be 1-65535", addr)
	}
	return nil
}

// describe turns HCL diagnostics into one error whose text quotes the source
// line each diagnostic points at, so the operator sees the offending key and
// its value, not only a line and column.
func describe(err error, src []byte) error {
	var diags hcl.Diagnostics
	if !errors.As(err, &diags) {
		return err
	}
	var parts []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Error()
		if line := sourceLine(src, d.Subject); line != "" {
			msg += fmt.Sprintf(" (in: %s)", line)
		}
		parts = append(parts, msg)
	}
	if len(parts) == 0 {
		return err
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

// sourceLine returns the trimmed line of src where rng starts, shortened to
// a readable length; "" when rng is unknown.
func sourceLine(src []byte, rng *hcl.Range) string {
	const maxLen = 160
	if rng == nil || rng.Start.Byte < 0 || rng.Start.Byte > len(src) {
		return ""
	}
	start := strings.LastIndexByte(string(src[:rng.Start.Byte]), '\n') + 1
	end := len(src)
	if i := strings.IndexByte(string(src[rng.Start.Byte:]), '\n'); i >= 0 {
		end = rng.Start.Byte + i
	}
	line := strings.TrimSpace(string(src[start:end]))
	if len(line) > maxLen {
		// Center the excerpt on the diagnostic in long (one-line JSON) lines.
		from := max(rng.Start.Byte-start-maxLen/2, 0)
		to := min(from+maxLen, end-start)
		line = "…" + strings.TrimSpace(string(src[start+from:start+to])) + "…"
	}
	return line
}
