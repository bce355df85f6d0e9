package backup

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The Redis snapshot file (redis.snapshot) holds one record per key, as
// DUMP serialised it:
//
//	header   "tenantctl-redis-snapshot 1\n"
//	record   'k'  uvarint len(key)  key  varint ttl  uvarint len(payload)  payload
//	trailer  'e'  uvarint number of records
//
// uvarint and varint are Go's encoding/binary variable-length integers
// (unsigned LEB128, and zig-zag for the signed one). ttl is the key's
// remaining time to live in milliseconds when it was read (PTTL), or -1 for
// a key without expiry. payload is DUMP's reply, which RESTORE takes back:
// Redis's own serialisation with its RDB version and a CRC64, readable by the
// same or a newer Redis. The trailer makes a truncated file an error, and
// nothing may follow it.
const snapshotHeader = "tenantctl-redis-snapshot 1\n"

const (
	tagKey byte = 'k'
	tagEnd byte = 'e'
)

// maxSnapshotField bounds a key or payload length read from a file: Redis
// keys and strings are at most 512 MiB, a DUMP of a large collection may be
// bigger; a wild length means a corrupt file.
const maxSnapshotField = 4 << 30

// snapshotRecord is one key of a Redis snapshot.
type snapshotRecord struct {
	Key     string
	TTL     int64 // milliseconds, -1 for none
	Payload []byte
}

// snapshotWriter writes a Redis snapshot file.
type snapshotWriter struct {
	w     *bufio.Writer
	n     int64
	err   error
	inter [binary.MaxVarintLen64]byte
}

func newSnapshotWriter(w io.Writer) *snapshotWriter {
	sw := &snapshotWriter{w: bufio.NewWriterSize(w, 256<<10)}
	_, sw.err = sw.w.WriteString(snapshotHeader)
	return sw
}

func (sw *snapshotWriter) uvarint(v uint64) {
	if sw.err == nil {
		_, sw.err = sw.w.Write(binary.AppendUvarint(sw.inter[:0], v))
	}
}

func (sw *snapshotWriter) bytes(b []byte) {
	if sw.err == nil {
		_, sw.err = sw.w.Write(b)
	}
}

// Add writes one record.
func (sw *snapshotWriter) Add(r snapshotRecord) error {
	sw.bytes([]byte{tagKey})
	sw.uvarint(uint64(len(r.Key)))
	sw.bytes([]byte(r.Key))
	if sw.err == nil {
		_, sw.err = sw.w.Write(binary.AppendVarint(sw.inter[:0], r.TTL))
	}
	sw.uvarint(uint64(len(r.Payload)))
	sw.bytes(r.Payload)
	sw.n++
	return sw.err
}

// Close writes the trailer and flushes; it does not close the underlying
// writer.
func (sw *snapshotWriter) Close() error {
	sw.bytes([]byte{tagEnd})
	sw.uvarint(uint64(sw.n))
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	return sw.err
}

// errCorruptSnapshot is wrapped by every error about a malformed snapshot.
var errCorruptSnapshot = errors.New("corrupt redis snapshot")

// snapshotReader reads a Redis snapshot file record by record.
type snapshotReader struct {
	r    *bufio.Reader
	n    int64
	done bool
}

func newSnapshotReader(r io.Reader) (*snapshotReader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	head := make([]byte, len(snapshotHeader))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != snapshotHeader {
		return nil, fmt.Errorf("%w: not a tenantctl redis snapshot (version 1)", errCorruptSnapshot)
	}
	return &snapshotReader{r: br}, nil
}

func (sr *snapshotReader) field() ([]byte, error) {
	n, err := binary.ReadUvarint(sr.r)
	if err != nil {
		return nil, err
	}
	if n > maxSnapshotField {
		return nil, fmt.Errorf("field of %d bytes", n)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(sr.r, b)
	return b, err
}

// Next returns the next record, or io.EOF after the trailer (which it
// checks, together with the end of the file).
func (sr *snapshotReader) Next() (snapshotRecord, error) {
	if sr.done {
		return snapshotRecord{}, io.EOF
	}
	corrupt := func(err error) (snapshotRecord, error) {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return snapshotRecord{}, fmt.Errorf("%w: record %d: %v", errCorruptSnapshot, sr.n+1, err)
	}
	tag, err := sr.r.ReadByte()
	if err != nil {
		return corrupt(err)
	}
	switch tag {
	case tagEnd:
		count, err := binary.ReadUvarint(sr.r)
		if err != nil {
			return corrupt(err)
		}
		if int64(count) != sr.n {
			return corrupt(fmt.Errorf("trailer counts %d records, the file has %d", count, sr.n))
		}
		if _, err := sr.r.ReadByte(); err != io.EOF {
			return corrupt(errors.New("data after the trailer"))
		}
		sr.done = true
		return snapshotRecord{}, io.EOF
	case tagKey:
	default:
		return corrupt(fmt.Errorf("unknown record tag 0x%02x", tag))
	}
	key, err := sr.field()
	if err != nil {
		return corrupt(err)
	}
	ttl, err := binary.ReadVarint(sr.r)
	if err != nil {
		return corrupt(err)
	}
	if ttl < -1 {
		return corrupt(fmt.Errorf("ttl %d", ttl))
	}
	payload, err := sr.field()
	if err != nil {
		return corrupt(err)
	}
	sr.n++
	return snapshotRecord{Key: string(key), TTL: ttl, Payload: payload}, nil
}
