// Package ui is the live web page every agent serves at /ui/: the cluster's
// members, the upgrade in progress with its steps, timeline and rate, and
// the history of upgrades. It is static HTML, CSS and plain JavaScript,
// embedded in the binary, that reads the agent's public read routes; it
// needs no network beyond the agent, writes nothing, and must never render
// what it reads as markup.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the page under the prefix /ui/.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Only the page's own files, and the agent's API, are ever loaded.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
