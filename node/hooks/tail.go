package hooks

import (
	"bytes"
	"sync"
	"unicode/utf8"
)

// TailSize is how many bytes of a hook's output Run keeps: the last ones.
const TailSize = 4 << 10

// truncatedMark starts an output tail whose beginning was cut off.
const truncatedMark = "…(truncated)\n"

// tailBuffer keeps the last limit bytes written to it. It is safe for
// concurrent writers (stdout and stderr are copied by separate goroutines).
type tailBuffer struct {
	mu      sync.Mutex
	limit   int
	buf     []byte
	dropped bool
}

func newTailBuffer(limit int) *tailBuffer {
	return &tailBuffer{limit: limit}
}

// Write never fails: output beyond the limit silently pushes out the oldest.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	// Trim only once the buffer is twice the limit, so copying stays
	// amortised O(1) per byte.
	if len(t.buf) > 2*t.limit {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.limit:]...)
		t.dropped = true
	}
	return len(p), nil
}

// String returns the kept tail, prefixed with truncatedMark when earlier
// output was dropped. A multi-byte character cut by the trim is skipped.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	dropped := t.dropped
	if len(b) > t.limit {
		b = b[len(b)-t.limit:]
		dropped = true
	}
	if !dropped {
		return string(b)
	}
	for len(b) > 0 && !utf8.RuneStart(b[0]) {
		b = b[1:]
	}
	return truncatedMark + string(b)
}

// lastLine returns the last non-empty line of output, trimmed, for one-line
// error messages.
func lastLine(output string) string {
	b := bytes.TrimRight([]byte(output), " \t\r\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(bytes.TrimSpace(b))
}
