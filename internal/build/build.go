// Package build holds what the linker stamps into a Baton binary: its
// version and the range of protocol versions it speaks. Set them with
// -ldflags "-X github.com/baton-upgrade/baton/internal/build.Version=2.0.0 ...".
package build

import (
	"fmt"
	"strconv"

	"github.com/baton-upgrade/baton/fsm"
)

// Stamped at link time; the defaults describe an unstamped development build,
// which speaks the newest protocol of its source (fsm.LatestProtocol) and the
// one before it. They are literals because the linker's -X sets only
// strings initialised to constants; a test keeps them equal to
// fsm.LatestProtocol.
var (
	// Version is this build's version.
	Version = "0.0.0-dev"
	// ProtocolMin is the oldest protocol version this build speaks.
	ProtocolMin = "2"
	// ProtocolMax is the newest protocol version this build speaks.
	ProtocolMax = "3"
)

// Protocol returns the stamped protocol range. A malformed stamp is a build
// error, reported here rather than guessed around.
func Protocol() (fsm.ProtocolRange, error) {
	lo, err1 := strconv.Atoi(ProtocolMin)
	hi, err2 := strconv.Atoi(ProtocolMax)
	if err1 != nil || err2 != nil {
		return fsm.ProtocolRange{}, fmt.Errorf("build: protocol range %q-%q is not numeric", ProtocolMin, ProtocolMax)
	}
	p := fsm.ProtocolRange{Min: lo, Max: hi}
	return p, fsm.ValidateProtocol(p)
}
