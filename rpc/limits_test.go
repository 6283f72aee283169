package rpc

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// endlessJSON is a body that never ends and declares no length: a JSON
// string that goes on past any limit.
type endlessJSON struct{ started bool }

func (e *endlessJSON) Read(p []byte) (int, error) {
	n := 0
	if !e.started {
		p[0], n, e.started = '{', 1, true
		n += copy(p[1:], `"id":"`)
	}
	for ; n < len(p); n++ {
		p[n] = 'a'
	}
	return n, nil
}

// A body over the limit is refused with 413 and the code too_large, not a
// 400 about a cut-off JSON, whether it declares its length or not, asked
// of the leader or of a follower that would forward it; nothing is
// applied.
func TestOversizedBodyIs413AndNothingApplied(t *testing.T) {
	leader, _, lsrv, fsrv := pair(t, "")
	for via, url := range map[string]string{"leader": lsrv.URL, "follower": fsrv.URL} {
		for name, body := range map[string]func() io.Reader{
			"declared": func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte("a"), maxBody+1)) },
			"chunked":  func() io.Reader { return io.LimitReader(&endlessJSON{}, 4*maxBody) },
		} {
			t.Run(via+" "+name, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodPost, url+"/v1/members", body())
				require.NoError(t, err)
				if name == "chunked" {
					req.ContentLength = -1
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
				var eb api.ErrorBody
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&eb))
				require.Equal(t, api.CodeTooLarge, eb.Code)
				require.Contains(t, eb.Error, "over the limit of 1048576 bytes")
			})
		}
	}
	require.Empty(t, leader.joins)
	// A body just under the limit is still read and judged on its content.
	req, _ := http.NewRequest(http.MethodPost, lsrv.URL+"/v1/members", strings.NewReader(`{"id":"n3"}`))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
