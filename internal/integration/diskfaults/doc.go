// Package diskfaults holds the integration tests of an agent's store
// safety: real baton processes whose data dir loses power, fills up or
// fails its fsyncs (on a lazy file system, jepsen/lazyfs: those tests need
// root and /dev/fuse, and skip without them), or belongs to another
// cluster.
package diskfaults
