package hooks

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/baton-upgrade/baton/rpc/api"
)

// TailSize is how many bytes of a hook's output Run keeps: the last ones,
// as much as a node keeps and serves of each hook run.
const TailSize = api.HookOutputLimit

// The excerpt of a failing hook's output that its error quotes: the last
// ErrorExcerptLines non-blank lines, at most ErrorExcerptBytes bytes.
const (
	ErrorExcerptLines = 5
	ErrorExcerptBytes = 1 << 10
)

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

// Tail returns the kept tail and whether earlier output was dropped. A
// multi-byte character cut by the trim is skipped.
func (t *tailBuffer) Tail() (tail string, truncated bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	truncated = t.dropped
	if len(b) > t.limit {
		b = b[len(b)-t.limit:]
		truncated = true
	}
	if truncated {
		for len(b) > 0 && !utf8.RuneStart(b[0]) {
			b = b[1:]
		}
	}
	return string(b), truncated
}

// excerpt returns the last ErrorExcerptLines non-blank lines of output,
// each trimmed, joined with " | " so that an error stays on one line, and
// cut from the front to ErrorExcerptBytes (marked with "…") when longer.
func excerpt(output string) string {
	var lines []string
	for _, l := range strings.Split(output, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	lines = lines[max(0, len(lines)-ErrorExcerptLines):]
	s := strings.Join(lines, " | ")
	if len(s) <= ErrorExcerptBytes {
		return s
	}
	const mark = "…"
	s = s[len(s)-(ErrorExcerptBytes-len(mark)):]
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return mark + s
}
