package backup

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestSnapshotRoundTrip(t *testing.T) {
	recs := []snapshotRecord{
		{Key: "plain", TTL: -1, Payload: []byte("payload")},
		{Key: "bin:\x00\xff\n", TTL: 0, Payload: []byte{0, 1, 2}},
		{Key: "", TTL: 1 << 40, Payload: nil},
		{Key: strings.Repeat("k", 300), TTL: 5, Payload: bytes.Repeat([]byte{7}, 70000)},
	}
	var buf bytes.Buffer
	w := newSnapshotWriter(&buf)
	for _, r := range recs {
		if err := w.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte(snapshotHeader)) {
		t.Fatalf("file starts %q; want the header %q", buf.Bytes()[:10], snapshotHeader)
	}
	got := readAll(t, buf.Bytes())
	if len(got) != len(recs) {
		t.Fatalf("got %d records; want %d", len(got), len(recs))
	}
	for i := range recs {
		if got[i].Key != recs[i].Key || got[i].TTL != recs[i].TTL || !bytes.Equal(got[i].Payload, recs[i].Payload) {
			t.Errorf("record %d: got %q ttl %d (%d bytes); want %q ttl %d (%d bytes)", i,
				got[i].Key, got[i].TTL, len(got[i].Payload), recs[i].Key, recs[i].TTL, len(recs[i].Payload))
		}
	}
}

func readAll(t *testing.T, data []byte) []snapshotRecord {
	t.Helper()
	r, err := newSnapshotReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out []snapshotRecord
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
}

func TestSnapshotCorrupt(t *testing.T) {
	var buf bytes.Buffer
	w := newSnapshotWriter(&buf)
	_ = w.Add(snapshotRecord{Key: "a", TTL: -1, Payload: []byte("xyz")})
	_ = w.Add(snapshotRecord{Key: "b", TTL: 10, Payload: []byte("uvw")})
	_ = w.Close()
	good := buf.Bytes()
	cases := map[string][]byte{
		"empty":           nil,
		"other header":    append([]byte("tenantctl-redis-snapshot 2\n"), good[len(snapshotHeader):]...),
		"no trailer":      good[:len(good)-2],
		"cut in a record": good[:len(snapshotHeader)+4],
		"data after":      append(append([]byte{}, good...), 'x'),
		"wrong count":     append(append([]byte{}, good[:len(good)-1]...), 3),
		"unknown tag":     append(append([]byte{}, good[:len(snapshotHeader)]...), 'z'),
		"huge length":     append(append([]byte{}, good[:len(snapshotHeader)]...), 'k', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := newSnapshotReader(bytes.NewReader(data))
			for err == nil {
				_, err = r.Next()
			}
			if err == io.EOF || !errors.Is(err, errCorruptSnapshot) {
				t.Errorf("got %v; want a corrupt-snapshot error", err)
			}
		})
	}
}
