package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkProxyGET is one GET through the proxy to a node that answers at
// once, on kept-alive connections: the proxy's own cost per request. Set
// against BenchmarkDirectGET, the same GET to the node.
func BenchmarkProxyGET(b *testing.B) {
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer node.Close()
	p := NewProxy(ProxyOptions{})
	p.SetView(NewView(State{Members: members("n1", node.Listener.Addr().String())}))
	front := httptest.NewServer(p)
	defer front.Close()
	benchGET(b, front.URL)
}

func BenchmarkDirectGET(b *testing.B) {
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer node.Close()
	benchGET(b, node.URL)
}

func benchGET(b *testing.B, url string) {
	client := &http.Client{}
	b.ResetTimer()
	for range b.N {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
