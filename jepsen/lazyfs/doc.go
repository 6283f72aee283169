// Package lazyfs is a FUSE file system for the chaos suite's agent data
// directories that can lose what was never synced.
//
// It passes every operation through to a real directory (the backing
// directory, which stands for the disk), and keeps, beside it, what it
// needs to take back everything not yet covered by an fsync:
//
//   - for each file written since its last fsync, the size it had then and
//     the old content of every page overwritten within that size (an undo
//     log, filled before each write, truncate or fallocate reaches the
//     backing file);
//   - the directory operations (create, mkdir, mknod, symlink, link,
//     unlink, rmdir, rename) in the order they happened, each with how to
//     undo it. An unlinked or replaced file is moved to a trash directory
//     beside the backing directory, so that undoing the unlink can bring it
//     back. Directory operations become durable in order, as in a
//     journaling file system: an fsync of a directory makes every pending
//     operation up to the last one that touched that directory durable.
//
// PowerLoss (called while nothing uses the mount) unmounts, throws away
// every unsynced write (a file goes back to its synced content and size;
// what it grew by since is cut off, or, for some files, left as a hole of
// zeros), undoes the pending directory operations newest first, and mounts
// again. SetFull makes writes and creates fail with ENOSPC, SetFsyncFail
// makes fsync fail with EIO; both clear on command. A failed fsync leaves
// the writes it did not cover pending: a later power loss drops them.
//
// The package must never touch anything outside its backing directory,
// its trash directory and its mount point.
package lazyfs
