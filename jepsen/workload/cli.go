package workload

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

// cli runs `baton` against node with the suite's token. Its exit status is
// the op's Status; 0 is ok, 2 a usage error (fail). Exit status 1 prints the
// agent's message, which begins with the meaning of its error (the
// sentinel's text, as the API wraps it): a write fails when the message
// says nothing was applied, and is info when it says the outcome is
// unknown or names no meaning at all (no answer, say).
func (cl *client) cli(ctx context.Context, op *history.Op, node string, args ...string) (string, history.Type) {
	env := cl.c.CLIEnv(node)
	res, err := procs.RunCLIContext(ctx, nil, cl.c.Bin(), env, args...)
	if err != nil {
		op.Error = err.Error()
		if op.IsWrite() {
			return "", history.Info
		}
		return "", history.Fail
	}
	op.Status = res.Code
	switch {
	case res.Code == 0:
		return res.Stdout, history.OK
	case res.Code == 2:
		op.Error = strings.TrimSpace(res.Stderr)
		return "", history.Fail
	}
	op.Error = strings.TrimSpace(res.Stderr)
	code, definite := cliMeaning(res.Stderr)
	op.Code = code
	if op.IsWrite() && !definite {
		return "", history.Info
	}
	return "", history.Fail
}

// cliMeanings are the error texts a failed command's message carries, in
// the order they are looked for (the outcome unknown first: it must never
// pass for a definite failure), with their codes.
var cliMeanings = []struct {
	text string
	code api.ErrorCode
}{
	{api.ErrUnknownOutcome.Error() + ":", api.CodeUnknownOutcome},
	{api.ErrNoLeader.Error() + ":", api.CodeNoLeader},
	{api.ErrStale.Error() + ":", api.CodeStale},
	{api.ErrConflict.Error() + ":", api.CodeConflict},
	{api.ErrNotFound.Error() + ":", api.CodeNotFound},
	{api.ErrInvalid.Error() + ":", api.CodeInvalid},
	{api.ErrBadRequest.Error() + ":", api.CodeInvalid},
	{api.ErrUnauthorized.Error() + ":", api.CodeUnauthorized},
	{api.ErrForbidden.Error() + ":", api.CodeForbidden},
	{api.ErrUnreachable.Error() + ":", ""},
}

// cliMeaning reads a failed command's message: the code it names (if any)
// and whether it says for sure that nothing was applied.
func cliMeaning(stderr string) (api.ErrorCode, bool) {
	for _, m := range cliMeanings {
		if strings.Contains(stderr, m.text) {
			if m.code == "" {
				return "", true // the agent could not be reached: nothing was sent
			}
			return m.code, !m.code.Applied()
		}
	}
	return "", false
}

func decodeTxn(out string, op *history.Op) bool {
	var t api.Txn
	if json.Unmarshal([]byte(out), &t) != nil || t.ID == "" {
		return false
	}
	op.Results, op.Found = []history.TxnView{view(t)}, true
	return true
}

// cliStart runs `baton upgrade start … --json`.
func (cl *client) cliStart(node string, p history.StartParams) history.Op {
	return cl.do(history.Op{Kind: history.KindStart, Node: node, Request: &p}, func(ctx context.Context, op *history.Op) history.Type {
		args := []string{"upgrade", "start", "--version", p.TargetVersion, "--strategy", p.Strategy,
			"--max-parallel", p.MaxParallel, "--on-failure", p.OnFailure, "--step-timeout", cl.opts.StepTimeout.String(),
			"--progress-deadline", cl.opts.ProgressDeadline.String(), "--json"}
		if p.MaxLag > 0 {
			args = append(args, "--max-lag", strconv.FormatUint(p.MaxLag, 10))
		}
		out, t := cl.cli(ctx, op, node, args...)
		if t == history.OK && !decodeTxn(out, op) {
			op.Error = "unreadable --json output: " + out
			return history.Info
		}
		return t
	})
}

// cliControl runs `baton upgrade ACTION [ID] --json`; an empty id means the
// active transaction.
func (cl *client) cliControl(node, action, id string, rollback bool) history.Op {
	return cl.do(history.Op{Kind: action, Node: node, Txn: id}, func(ctx context.Context, op *history.Op) history.Type {
		args := []string{"upgrade", action}
		if id != "" {
			args = append(args, id)
		}
		if rollback {
			args = append(args, "--rollback")
		}
		out, t := cl.cli(ctx, op, node, append(args, "--json")...)
		if t == history.OK && !decodeTxn(out, op) {
			op.Error = "unreadable --json output: " + out
			return history.Info
		}
		return t
	})
}

// cliStatus runs `baton upgrade status [ID] --json`: a local read.
func (cl *client) cliStatus(node, id string) history.Op {
	kind := history.KindRead
	if id == "" {
		kind = history.KindReadActive
	}
	return cl.do(history.Op{Kind: kind, Node: node, Txn: id}, func(ctx context.Context, op *history.Op) history.Type {
		args := []string{"upgrade", "status"}
		if id != "" {
			args = append(args, id)
		} else {
			args = append(args, "active")
		}
		out, t := cl.cli(ctx, op, node, append(args, "--json")...)
		if t == history.OK && !decodeTxn(out, op) {
			return history.Fail
		}
		return t
	})
}
