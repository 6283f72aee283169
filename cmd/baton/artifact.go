package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"

	"github.com/urfave/cli/v2"
)

// pushTimeout bounds a push when --timeout is not given: the bytes travel
// to one server and are copied to the others before it answers.
const pushTimeout = time.Hour

func artifactCommand() *cli.Command {
	return &cli.Command{
		Name:  "artifact",
		Usage: "keep the upgrade program in the cluster: `artifact push FILE`, `artifact list`",
		Description: "An artifact pushed to the cluster is stored by each server under its SHA-256\n" +
			"digest, outside the Raft log, which records only its digest, size, name and\n" +
			"which servers hold it. `upgrade start --artifact sha256:HEX` then has every\n" +
			"node fetch it from the servers, verified by digest (docs/fleets.md).",
		Subcommands: []*cli.Command{artifactPushCommand(), artifactListCommand()},
	}
}

func artifactPushCommand() *cli.Command {
	return &cli.Command{
		Name:  "push",
		Usage: "store FILE in the cluster and print its reference, sha256:HEX",
		Description: "Computes FILE's SHA-256, streams it to the agent at --addr, which verifies the\n" +
			"digest and copies it to the other voters; the push succeeds once a quorum of\n" +
			"the voters hold a verified copy, and otherwise fails naming who holds it. A\n" +
			"push of an artifact already held succeeds again. Needs the token, like other\n" +
			"writes. Without --timeout it may take up to an hour.",
		ArgsUsage: "FILE",
		Flags:     clientFlags(),
		Action: func(c *cli.Context) error {
			path, err := oneArg(c, "the FILE to push")
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("artifact push: %w", err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("artifact push: %w", err)
			}
			if !st.Mode().IsRegular() {
				return fmt.Errorf("artifact push: %s is not a regular file", path)
			}
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				return fmt.Errorf("artifact push: read %s: %w", path, err)
			}
			sha := hex.EncodeToString(h.Sum(nil))
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("artifact push: %w", err)
			}
			ctx, cancel := context.WithTimeout(c.Context, pushTimeout)
			if c.IsSet("timeout") {
				ctx, cancel = requestContext(c)
			}
			defer cancel()
			res, err := clientOf(c).PushArtifact(ctx, sha, filepath.Base(path), st.Size(), f)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			fmt.Fprintln(c.App.Writer, res.Artifact.Ref)
			fmt.Fprintf(c.App.ErrWriter, "baton: %s (%d bytes) held by %s: %d of %d voters needed\n",
				filepath.Base(path), res.Artifact.Size, strings.Join(res.Artifact.Holders, ", "), res.Quorum, res.Quorum)
			return nil
		},
	}
}

func artifactListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list the artifacts held by the cluster and which servers hold them",
		ArgsUsage: " ",
		Flags:     clientFlags(),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			list, err := clientOf(c).Artifacts(ctx)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if list == nil {
					list = []api.Artifact{}
				}
				return printJSON(c.App.Writer, list)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ARTIFACT\tSIZE\tNAME\tHOLDERS\tADDED")
			for _, a := range list {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", a.Ref, a.Size, orDash(a.Name), strings.Join(a.Holders, ","), formatTime(a.AddedAt))
			}
			return tw.Flush()
		},
	}
}
