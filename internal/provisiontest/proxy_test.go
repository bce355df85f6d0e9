package provisiontest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// slowBody sends its first part at once and the rest after a pause, as a
// client on a loaded machine may.
type slowBody struct {
	parts [][]byte
	pause time.Duration
	sent  atomic.Int64 // unix nanoseconds when the last part was handed over
}

func (s *slowBody) Read(p []byte) (int, error) {
	if len(s.parts) == 0 {
		return 0, io.EOF
	}
	if len(s.parts) == 1 && s.pause > 0 {
		time.Sleep(s.pause)
		s.pause = 0
		s.sent.Store(time.Now().UnixNano())
	}
	n := copy(p, s.parts[0])
	if s.parts[0] = s.parts[0][n:]; len(s.parts[0]) == 0 {
		s.parts = s.parts[1:]
	}
	return n, nil
}

// TestProxyForwardsWholeBodies pins the invariant that keeps responses
// whole (see bufferBody): the upstream sees a request only once the
// client has sent all of its body, and gets that body intact.
func TestProxyForwardsWholeBodies(t *testing.T) {
	var arrived atomic.Int64
	var got atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Store(time.Now().UnixNano())
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		w.Write(bytes.Repeat([]byte("x"), 64<<10))
	}))
	t.Cleanup(up.Close)
	p := newProxy(t, up.URL)

	first, last := strings.Repeat("a", 9000), "end"
	body := &slowBody{parts: [][]byte{[]byte(first), []byte(last)}, pause: 300 * time.Millisecond}
	req, err := http.NewRequest(http.MethodPut, p.URL()+"/v1/sys/capabilities-self", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(first) + len(last))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != 64<<10 {
		t.Fatalf("response: read %d bytes, err %v; want %d bytes whole", n, err, 64<<10)
	}
	if a, s := arrived.Load(), body.sent.Load(); a < s {
		t.Errorf("the upstream saw the request %v before the client sent the end of its body", time.Duration(s-a))
	}
	if g, _ := got.Load().(string); g != first+last {
		t.Errorf("upstream got a body of %d bytes, want %d", len(g), len(first+last))
	}
}

// TestProxyRefusesHugeBodies: the proxy holds bodies in memory, so it has
// a bound, and says so rather than forwarding part of one.
func TestProxyRefusesHugeBodies(t *testing.T) {
	var calls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	t.Cleanup(up.Close)
	p := newProxy(t, up.URL)
	resp, err := http.Post(p.URL()+"/v1/kv/x", "application/octet-stream", io.LimitReader(zeros{}, maxProxiedBody+1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || calls.Load() != 0 {
		t.Fatalf("status %d, upstream calls %d; want 400 and none", resp.StatusCode, calls.Load())
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
