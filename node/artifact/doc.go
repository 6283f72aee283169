// Package artifact fetches the upgrade artifact named by a transaction (an
// http(s) URL or a local path) into the node's artifact directory and
// verifies its SHA-256 digest while it streams.
//
// A file is only ever visible under its final name once its digest has been
// checked, so a hook handed BATON_ARTIFACT_PATH always sees the exact bytes
// the operator pinned. This package must never hand out, keep, or leave
// behind a file whose digest did not match, and never executes what it
// downloads.
package artifact
