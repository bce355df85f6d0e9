package migrate

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"testing/fstest"
)

// Migration is one SQL migration file.
type Migration struct {
	Version int64  `json:"version"`
	File    string `json:"file"`
	// Checksum is the hex SHA-256 of the file's bytes.
	Checksum string `json:"checksum"`
	// NoTransaction reports that the file is marked "-- +goose NO
	// TRANSACTION": it is not rolled back when it fails.
	NoTransaction bool `json:"no_transaction,omitempty"`
}

// Load reads the *.sql files at the root of fsys, checks their names
// (NNNNN_description.sql, versions unique and positive) and returns them in
// version order, together with an in-memory copy of exactly the bytes that
// were checksummed, for goose to run.
func Load(fsys fs.FS) ([]Migration, fs.FS, error) {
	if fsys == nil {
		return nil, nil, fmt.Errorf("migrate: no migrations")
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, nil, fmt.Errorf("migrate: list migrations: %w", err)
	}
	if len(names) == 0 {
		return nil, nil, &ConfigError{Err: fmt.Errorf("no *.sql migration files found")}
	}
	mapFS := fstest.MapFS{}
	byVersion := map[int64]string{}
	var migs []Migration
	for _, name := range names {
		v, err := versionOf(name)
		if err != nil {
			return nil, nil, &ConfigError{Err: err}
		}
		if other, dup := byVersion[v]; dup {
			return nil, nil, &ConfigError{Err: fmt.Errorf("migrations %s and %s have the same version %d", other, name, v)}
		}
		byVersion[v] = name
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, nil, fmt.Errorf("migrate: read %s: %w", name, err)
		}
		sum := sha256.Sum256(data)
		mapFS[name] = &fstest.MapFile{Data: data, Mode: 0o444}
		migs = append(migs, Migration{
			Version:       v,
			File:          name,
			Checksum:      hex.EncodeToString(sum[:]),
			NoTransaction: noTransaction(data),
		})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].Version < migs[j].Version })
	return migs, mapFS, nil
}

// versionOf parses the version of a file named NNNNN_description.sql.
func versionOf(name string) (int64, error) {
	base := strings.TrimSuffix(path.Base(name), ".sql")
	num, _, ok := strings.Cut(base, "_")
	if !ok || num == "" {
		return 0, fmt.Errorf("migration %s: name must be NNNNN_description.sql", name)
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("migration %s: version %q must be a positive integer", name, num)
	}
	return v, nil
}

// noTransaction reports whether the file has a "-- +goose NO TRANSACTION"
// annotation line.
func noTransaction(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "--") &&
			strings.EqualFold(strings.Join(strings.Fields(strings.TrimPrefix(line, "--")), " "), "+goose NO TRANSACTION") {
			return true
		}
	}
	return false
}
