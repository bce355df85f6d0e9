package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// requestNote is what handlers add to their request's log line.
type requestNote struct {
	org string
	err string
}

type noteKey struct{}

// noteOrg records the request's organization for its log line.
func noteOrg(r *http.Request, org string) {
	if n, ok := r.Context().Value(noteKey{}).(*requestNote); ok {
		n.org = org
	}
}

// noteError records an internal error for the request's log line; the
// client only sees a generic message.
func noteError(r *http.Request, err error) {
	if n, ok := r.Context().Value(noteKey{}).(*requestNote); ok && err != nil {
		n.err = err.Error()
	}
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestLog logs one JSON line per request: method, path, matched route,
// status, duration, response size, the organization and, for server errors,
// the error. It never logs headers, query strings or bodies, where
// credentials and personal data travel.
func requestLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		note := &requestNote{}
		r = r.WithContext(context.WithValue(r.Context(), noteKey{}, note))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String(attrMethod, r.Method),
			slog.String(attrPath, r.URL.Path),
			slog.String(attrRoute, r.Pattern),
			slog.Int(attrStatus, sw.status),
			slog.Float64(attrDurationMS, float64(time.Since(start).Microseconds())/1000),
			slog.Int(attrBytes, sw.bytes),
		}
		if note.org != "" {
			attrs = append(attrs, slog.String(attrOrg, note.org))
		}
		if note.err != "" {
			attrs = append(attrs, slog.String(attrError, note.err))
		}
		logger.LogAttrs(r.Context(), level, "request", attrs...)
	})
}
