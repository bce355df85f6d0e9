package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// FormatVersion is the version of the backup layout and manifest this
// tenantctl writes; Restore refuses any other.
const FormatVersion = 1

// The prefixes of the one result line a backup run and a restore run print
// last on stdout, each followed by a JSON object on the same line (a
// Manifest, a RestoreResult; never a secret). Whoever runs them as a job
// finds the line in the job's log.
const (
	BackupLinePrefix  = "tenantctl-backup: "
	RestoreLinePrefix = "tenantctl-restore: "
)

// The files of a backup directory.
const (
	PostgresFile = "postgres.dump"
	RedisFile    = "redis.snapshot"
	ManifestFile = "manifest.json"
)

// Manifest describes one complete backup; it is manifest.json in the
// backup's directory, written last. It never holds a secret, a connection
// string or an address.
type Manifest struct {
	// Format is FormatVersion of the tenantctl that wrote it.
	Format int `json:"format"`
	// ID is the backup id, also the directory's name.
	ID string `json:"id"`
	// Tenant is the id of the tenant the data was taken from.
	Tenant string `json:"tenant"`
	// Created is when the backup started, UTC, to the millisecond
	// (RFC 3339); backups are ordered by it (ids only to the second).
	Created time.Time `json:"created"`
	// DurationMS is how long taking it took, in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// SchemaVersion is the highest applied migration of the database
	// (0: none).
	SchemaVersion int64 `json:"schema_version"`
	// TenantctlVersion is the version of the tenantctl that took it.
	TenantctlVersion string `json:"tenantctl_version"`
	// Files are the data files with their sizes and checksums.
	Files []File `json:"files"`
	// Postgres and Redis summarise what the files hold.
	Postgres PostgresInfo `json:"postgres"`
	Redis    RedisInfo    `json:"redis"`
}

// File is one data file of a backup.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// PostgresInfo summarises the Postgres dump.
type PostgresInfo struct {
	// ServerVersion is the dumped server's version (server_version_num).
	ServerVersion int `json:"server_version"`
	// Rows counts the rows of each table ("schema.table") in the dump's
	// snapshot; Restore checks them.
	Rows map[string]int64 `json:"rows"`
}

// RedisInfo summarises the Redis snapshot.
type RedisInfo struct {
	// Keys is the number of keys in the snapshot.
	Keys int64 `json:"keys"`
	// Persistent is how many of them have no expiry.
	Persistent int64 `json:"persistent"`
}

// Size is the total size of the backup's data files in bytes.
func (m *Manifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// file returns the entry of the data file called name.
func (m *Manifest) file(name string) (File, bool) {
	for _, f := range m.Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// errBadManifest is wrapped by every error about a manifest that does not
// parse or does not describe a usable backup.
var errBadManifest = errors.New("bad manifest")

// readManifest reads and checks the manifest of the backup directory dir.
func readManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errBadManifest, filepath.Join(dir, ManifestFile), err)
	}
	if m.Format != FormatVersion {
		return &m, &FormatError{Format: m.Format}
	}
	if err := ValidateID(m.ID); err != nil || m.ID != filepath.Base(dir) {
		return nil, fmt.Errorf("%w: %s: id %q does not match its directory", errBadManifest, dir, m.ID)
	}
	for _, want := range []string{PostgresFile, RedisFile} {
		if _, ok := m.file(want); !ok {
			return nil, fmt.Errorf("%w: %s: no entry for %s", errBadManifest, dir, want)
		}
	}
	for t := range m.Postgres.Rows {
		if !tableNameRE.MatchString(t) {
			return nil, fmt.Errorf("%w: %s: table name %q", errBadManifest, dir, t)
		}
	}
	return &m, nil
}

// tableNameRE is a schema-qualified table name as tenant migrations create
// them: plain lower-case identifiers.
var tableNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$`)

// FormatError is a backup written in a layout this tenantctl does not know.
type FormatError struct{ Format int }

func (e *FormatError) Error() string {
	return fmt.Sprintf("backup: format %d; this tenantctl reads format %d", e.Format, FormatVersion)
}

// hashFile returns the size and hex SHA-256 of the file at path.
func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// ChecksumError is a data file whose size or checksum differs from its
// manifest's.
type ChecksumError struct {
	File      string
	Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("backup: %s does not match its manifest (%s; manifest says %s): the backup is damaged", e.File, e.Got, e.Want)
}

// verifyFiles checks every data file of m in dir against its size and
// checksum.
func verifyFiles(dir string, m *Manifest) error {
	for _, f := range m.Files {
		if f.Name != PostgresFile && f.Name != RedisFile {
			return fmt.Errorf("backup: %w: unknown file %q", errBadManifest, f.Name)
		}
		size, sum, err := hashFile(filepath.Join(dir, f.Name))
		if err != nil {
			return fmt.Errorf("backup: verify %s: %w", f.Name, err)
		}
		if size != f.Size || sum != f.SHA256 {
			return &ChecksumError{File: f.Name,
				Want: fmt.Sprintf("%d bytes, sha256 %s", f.Size, f.SHA256),
				Got:  fmt.Sprintf("%d bytes, sha256 %s", size, sum)}
		}
	}
	return nil
}
