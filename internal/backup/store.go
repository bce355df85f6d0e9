package backup

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// The layout under a backup root:
//
//	<root>/<tenant>/<backup-id>/{postgres.dump,redis.snapshot,manifest.json}
//	<root>/<tenant>/.partial-<backup-id>-<random>/   a backup being written
//	<root>/<tenant>/.deleting-<backup-id>-<random>/  a backup being deleted
//
// A backup directory appears under its id only once complete: the files are
// written and synced in a .partial directory beside it, which is then renamed.
// Anything whose name starts with "." is never a backup.
const (
	partialPrefix  = ".partial-"
	deletingPrefix = ".deleting-"
)

// tenantDir returns the directory of tenant t's backups under root.
func tenantDir(root string, t tenant.ID) (string, error) {
	if root == "" {
		return "", errors.New("backup: no backup directory")
	}
	if _, err := tenant.ParseID(string(t)); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	return filepath.Join(root, string(t)), nil
}

// backupDir returns the directory of backup id of tenant t under root.
func backupDir(root string, t tenant.ID, id string) (string, error) {
	dir, err := tenantDir(root, t)
	if err != nil {
		return "", err
	}
	if err := ValidateID(id); err != nil {
		return "", err
	}
	return filepath.Join(dir, id), nil
}

// randomSuffix is 8 hex digits for temporary names.
func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// syncDir fsyncs a directory, so the names in it (a rename) are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeFileSync writes data to path and fsyncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// commit writes m as the manifest of the partial directory tmp, syncs it and
// renames it to its final name final, which must not exist.
func commit(tmp, final string, m *Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(tmp, ManifestFile), append(data, '\n')); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("%s already exists", final)
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return syncDir(filepath.Dir(final))
}

// Listing is what List finds in a tenant's backup directory.
type Listing struct {
	// Backups are the complete backups, newest first.
	Backups []Manifest `json:"backups"`
	// Skipped are the entries that are not complete backups of the tenant,
	// with the reason; List and retention leave them alone.
	Skipped []Skipped `json:"skipped"`
}

// Skipped is a directory entry that is not a complete backup.
type Skipped struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// List reads the manifests of tenant t's backups under root. A missing
// directory is an empty listing. Partial, foreign and unreadable entries are
// reported in Skipped, never returned as backups.
func List(root string, t tenant.ID) (*Listing, error) {
	dir, err := tenantDir(root, t)
	if err != nil {
		return nil, err
	}
	l := &Listing{Backups: []Manifest{}, Skipped: []Skipped{}}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup: list %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		skip := func(reason string) { l.Skipped = append(l.Skipped, Skipped{Name: name, Reason: reason}) }
		switch {
		case strings.HasPrefix(name, partialPrefix):
			skip("partial: a backup being written, or one that was interrupted")
			continue
		case strings.HasPrefix(name, deletingPrefix):
			skip("being deleted, or a deletion that was interrupted")
			continue
		case !e.IsDir():
			skip("not a directory")
			continue
		case ValidateID(name) != nil:
			skip("not a backup id")
			continue
		}
		m, err := readManifest(filepath.Join(dir, name))
		var ferr *FormatError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			skip("no manifest: incomplete")
		case errors.As(err, &ferr):
			skip(ferr.Error())
		case err != nil:
			skip(strings.TrimPrefix(err.Error(), "backup: "))
		case m.Tenant != string(t):
			skip(fmt.Sprintf("the manifest names tenant %q", m.Tenant))
		default:
			l.Backups = append(l.Backups, *m)
		}
	}
	sort.Slice(l.Backups, func(i, j int) bool {
		a, b := l.Backups[i], l.Backups[j]
		if !a.Created.Equal(b.Created) {
			return a.Created.After(b.Created)
		}
		return a.ID > b.ID
	})
	return l, nil
}

// Prune deletes the complete backups of tenant t beyond the keep newest and
// returns their ids; keep 0 keeps all. It deletes only directories whose
// manifest parses and names t (List's Backups); it never touches anything
// else. A backup is first renamed out of sight, so an interrupted deletion
// never leaves something that looks complete.
func Prune(root string, t tenant.ID, keep int) ([]string, error) {
	if keep < 0 {
		return nil, fmt.Errorf("backup: keep %d: want 0 (keep all) or more", keep)
	}
	if keep == 0 {
		return nil, nil
	}
	l, err := List(root, t)
	if err != nil {
		return nil, err
	}
	dir, _ := tenantDir(root, t)
	var deleted []string
	for _, m := range l.Backups[min(keep, len(l.Backups)):] {
		gone := filepath.Join(dir, deletingPrefix+m.ID+"-"+randomSuffix())
		if err := os.Rename(filepath.Join(dir, m.ID), gone); err != nil {
			return deleted, fmt.Errorf("backup: delete %s: %w", m.ID, err)
		}
		if err := os.RemoveAll(gone); err != nil {
			return deleted, fmt.Errorf("backup: delete %s: %w", m.ID, err)
		}
		deleted = append(deleted, m.ID)
	}
	return deleted, nil
}
