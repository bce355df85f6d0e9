package nomadtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	defaultBlockingWait = 5 * time.Minute
	maxBlockingWait     = 10 * time.Minute
)

// blockingParams reads the "index" and "wait" query parameters of a blocking
// query. wait accepts Go durations ("5s", "300000ms") and bare numbers of
// seconds, and is capped at ten minutes as Nomad caps it.
func (q *request) blockingParams() (uint64, time.Duration, error) {
	var min uint64
	if v := q.query.Get("index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, errCode(http.StatusBadRequest, "Invalid index: %v", err)
		}
		min = n
	}
	wait := defaultBlockingWait
	if v := q.query.Get("wait"); v != "" {
		if !strings.ContainsAny(v, "smhun") {
			v += "s"
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, 0, errCode(http.StatusBadRequest, "Invalid wait time")
		}
		wait = d
	}
	if wait > maxBlockingWait {
		wait = maxBlockingWait
	}
	return min, wait, nil
}

// query answers a read. fn runs under the state lock and returns the value to
// encode (or an error). When the request carries an index, the answer is held
// until the index of the given tables passes it, the wait time runs out, or
// the client goes away, as Nomad's blocking queries do.
func (s *Server) query(q *request, tables []string, fn func(st *state) (any, error)) error {
	min, wait, err := q.blockingParams()
	if err != nil {
		return err
	}
	var timeout <-chan time.Time
	for {
		s.mu.Lock()
		idx := s.st.tableIndex(tables...)
		notify := s.st.notify
		if min == 0 || idx > min {
			body, err := encodeResult(s.st, fn)
			s.mu.Unlock()
			if err != nil {
				return err
			}
			return q.replyRaw(idx, body)
		}
		s.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-notify:
		case <-timeout:
			s.mu.Lock()
			idx := s.st.tableIndex(tables...)
			body, err := encodeResult(s.st, fn)
			s.mu.Unlock()
			if err != nil {
				return err
			}
			return q.replyRaw(idx, body)
		case <-q.r.Context().Done():
			return q.r.Context().Err()
		case <-s.ctx.Done():
			return errCode(http.StatusServiceUnavailable, "server shutting down")
		}
	}
}

// encodeResult runs fn and encodes its value while the caller holds s.mu, so
// handlers may return live state without copying it.
func encodeResult(st *state, fn func(st *state) (any, error)) ([]byte, error) {
	v, err := fn(st)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("nomadtest: encode response: %w", err)
	}
	return body, nil
}
