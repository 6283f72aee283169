// Package diskfaults holds the integration tests of an agent whose data
// dir loses power, fills up or fails its fsyncs: real baton processes on a
// lazy file system (jepsen/lazyfs). They need root and /dev/fuse, and skip
// without them.
package diskfaults
