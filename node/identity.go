package node

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
)

// loadNodeKey reads this node's key from its data dir, or creates it at the
// agent's first start (docs/security.md, "Node identity").
func (a *Agent) loadNodeKey() error {
	path := filepath.Join(a.cfg.DataDir, nodeauth.KeyFile)
	k, created, err := nodeauth.LoadOrCreate(path)
	if err != nil {
		return err
	}
	if created {
		a.log.Info("node key created", "path", path, "key", k.Public())
	}
	a.key = k
	return nil
}

// NodeKey is the public half of this node's key, as the catalogue records
// it.
func (a *Agent) NodeKey() string { return a.key.Public() }

// SignRequest signs a request this agent sends another agent with its
// node key (the X-Baton-Node header): it is an api.RequestHook.
func (a *Agent) SignRequest(req *http.Request, body []byte) {
	req.Header.Set(nodeauth.Header, a.key.Sign(a.cfg.ID, time.Now(), req.Method, req.URL.RequestURI(), body))
}

// SetNodeKey commits a member.key command (leader only). It needs
// protocol 3: Apply refuses it while the cluster speaks an older one.
func (a *Agent) SetNodeKey(ctx context.Context, k fsm.MemberKey) error {
	_, err := a.Apply(ctx, fsm.CmdMemberKey, k)
	return err
}

// registerNodeKey records this node's public key in the catalogue once the
// cluster speaks protocol 3 and this member is in it: at its first start,
// and after an upgrade from an older build, when the protocol rises. A
// refusal (another key on record: this data dir lost its key) is logged
// with what to do, and tried again only when the catalogue changes.
func (a *Agent) registerNodeKey() {
	defer a.wg.Done()
	client := a.client(a.cfg.HTTPAddr)
	want := a.key.Public()
	// refused is the key on record when a registration was refused for
	// good; nil until then.
	var refused *string
	for {
		changed := a.fsm.Changed()
		protocol, member, current := 0, false, ""
		a.fsm.View(func(s *fsm.State) {
			protocol = s.ProtocolVersion
			m, ok := s.Members[a.cfg.ID]
			member, current = ok, m.NodeKey
		})
		retry := time.Duration(0)
		if protocol >= fsm.CommandProtocol(fsm.CmdMemberKey) && member && current != want && (refused == nil || *refused != current) {
			ctx, cancel := context.WithTimeout(a.ctx, 15*time.Second)
			err := client.RegisterNodeKey(ctx, a.cfg.ID, want)
			cancel()
			var apiErr *api.APIError
			switch {
			case err == nil:
				a.log.Info("node key registered", "key", want)
			case errors.As(err, &apiErr) && (errors.Is(err, api.ErrConflict) || errors.Is(err, api.ErrForbidden)):
				a.log.Error("node key refused: the catalogue holds another key for this member; its requests to other agents will be refused "+
					"(remove the member with baton members remove ID --force and join again, or restore "+nodeauth.KeyFile+")",
					"error", err)
				refused = &current
			default:
				a.log.Debug("node key not registered yet", "error", err)
				retry = time.Second
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
		case <-tick:
		}
	}
}

// AppliedIndex is the index this agent's state machine has applied.
func (a *Agent) AppliedIndex() uint64 {
	var index uint64
	a.fsm.View(func(s *fsm.State) { index = s.Index })
	return index
}
