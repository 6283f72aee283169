package rpc

import "net/http"

// auditEntry is what the audit line of one request says beyond the
// request itself: the caller, and what the handler found the write is
// about (notes), or where it was forwarded.
type auditEntry struct {
	caller Caller
	route  string
	notes  []any
	// body is the request's body, kept when it carries a node signature.
	body []byte
}

// noteAudit adds key/value pairs (a transaction or member id) to the
// request's audit line.
func noteAudit(r *http.Request, kv ...any) {
	if a, ok := r.Context().Value(callerKey{}).(*auditEntry); ok {
		a.notes = append(a.notes, kv...)
	}
}

// audit writes the line of one write: who (the caller: a node id, a
// token's name, or anonymous), what (method, route, path and the ids it
// names) and how it ended (the status sent, and the error). It goes to
// the dedicated audit logger (ServerOptions.Audit), so it can be kept or
// shipped apart from the agent's log.
func (s *Server) audit(r *http.Request, a *auditEntry, status int, refused error) {
	kv := []any{"caller", a.caller.Name(), "method", r.Method, "route", a.route, "path", r.URL.Path,
		"status", status}
	if a.caller.Token != "" && a.caller.Node != "" {
		kv = append(kv, "token", a.caller.Token)
	}
	if a.caller.Via != "" {
		kv = append(kv, "forwarded_by", a.caller.Via)
	}
	for _, p := range []string{"id", "txn", "attempt", "action"} {
		if v := r.PathValue(p); v != "" {
			kv = append(kv, p, clipID(v))
		}
	}
	kv = append(kv, a.notes...)
	if refused != nil {
		kv = append(kv, "refused", refused.Error())
	}
	s.auditLog.Info("write", kv...)
}

// statusWriter records the status a route answered.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets a streaming route flush through the writer.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
