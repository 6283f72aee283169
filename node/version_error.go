package node

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/baton-upgrade/baton/fsm"
)

// ReportVersionError commits a member.version_error command (leader only).
// It needs protocol 3: Apply refuses it while the cluster speaks an older
// one.
func (a *Agent) ReportVersionError(ctx context.Context, c fsm.MemberVersionError) error {
	_, err := a.Apply(ctx, fsm.CmdMemberVersionError, c)
	return err
}

// versionErrorText is what the catalogue says of a failed version reading:
// "version hook failed: exited 4: <its last lines>", bounded.
func versionErrorText(err error) string {
	msg := "version hook failed: " + strings.TrimPrefix(err.Error(), "hook version ")
	if len(msg) <= fsm.MaxVersionError {
		return msg
	}
	msg = msg[:fsm.MaxVersionError-len("…")]
	for len(msg) > 0 && !utf8.ValidString(msg) {
		msg = msg[:len(msg)-1]
	}
	return msg + "…"
}

// noteVersion keeps the outcome of a reading of this node's version: the
// version read, or why it could not be read (the version stays the last one
// read).
func (a *Agent) noteVersion(v string, err error) {
	a.versionMu.Lock()
	defer a.versionMu.Unlock()
	if err != nil {
		a.versionErr = versionErrorText(err)
	} else {
		a.version, a.versionErr = v, ""
	}
	a.pokeVersionReport()
}

// pokeVersionReport wakes reportVersionError without blocking.
func (a *Agent) pokeVersionReport() {
	select {
	case a.versionChanged <- struct{}{}:
	default:
	}
}

// versionError is why this node's last reading of its version failed; ""
// when it succeeded.
func (a *Agent) versionError() string {
	a.versionMu.Lock()
	defer a.versionMu.Unlock()
	return a.versionErr
}

// reportVersionError keeps the catalogue's VersionError of this member equal
// to what this agent last found, once the cluster speaks protocol 3 and the
// agent has registered: it records why the version hook fails, and clears
// the reason once a reading succeeds. A build that speaks no protocol 3
// never runs it.
func (a *Agent) reportVersionError() {
	defer a.wg.Done()
	client := a.client(a.cfg.HTTPAddr)
	for {
		changed := a.fsm.Changed()
		var (
			recorded string
			known    bool
			protocol int
		)
		a.fsm.View(func(s *fsm.State) {
			protocol = s.ProtocolVersion
			m, ok := s.Members[a.cfg.ID]
			recorded, known = m.VersionError, ok
		})
		want := a.versionError()
		retry := time.Duration(0)
		if a.registered.Load() && known && protocol >= fsm.CommandProtocol(fsm.CmdMemberVersionError) && recorded != want {
			ctx, cancel := context.WithTimeout(a.ctx, 15*time.Second)
			err := client.ReportVersionError(ctx, a.cfg.ID, want)
			cancel()
			if err != nil {
				a.log.Debug("version error not recorded yet", "error", err)
				retry = time.Second
			} else if want != "" {
				a.log.Warn("the catalogue shows this node's version as unknown or last known", "reason", want)
			}
		}
		var tick <-chan time.Time
		if retry > 0 {
			tick = time.After(retry)
		}
		select {
		case <-a.ctx.Done():
			return
		case <-changed:
		case <-a.versionChanged:
		case <-tick:
		}
	}
}
