package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantctl/tenantctl/internal/backup"
	"github.com/tenantctl/tenantctl/internal/backup/backuptest"
)

type pgxTx = pgx.Tx

func pgxConnect(ctx context.Context, url string) (*pgx.Conn, error) { return pgx.Connect(ctx, url) }

func firstOrg(t testing.TB, tn *backuptest.Tenant) string {
	t.Helper()
	var org string
	if err := tn.Super(t).QueryRow(context.Background(), `SELECT id::text FROM organizations ORDER BY id LIMIT 1`).Scan(&org); err != nil {
		t.Fatal(err)
	}
	return org
}

// extraUser creates a login user like tenant tn's restore or backup user but
// without BYPASSRLS.
func extraUser(t testing.TB, tn *backuptest.Tenant, suffix, group string, setRole bool) string {
	t.Helper()
	ctx := context.Background()
	super := tn.PG.Conn(t, "postgres")
	name := strings.ReplaceAll(string(tn.ID), "-", "_") + "_" + suffix
	pw := "pw-nobypass-" + suffix
	if _, err := super.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s WITH LOGIN PASSWORD '%s' IN ROLE %s`, name, pw, group)); err != nil {
		t.Fatal(err)
	}
	if setRole {
		if _, err := super.Exec(ctx, fmt.Sprintf(`ALTER ROLE %s SET role = '%s'`, name, group)); err != nil {
			t.Fatal(err)
		}
	}
	return backuptest.PostgresURL(tn.PG, name, pw, tn.Names.Database)
}

func noBypassRestoreUser(t testing.TB, tn *backuptest.Tenant) string {
	return extraUser(t, tn, "restore_nobypass", tn.Names.OwnerRole, true)
}

func noBypassBackupUser(t testing.TB, tn *backuptest.Tenant) string {
	return extraUser(t, tn, "backup_nobypass", tn.Names.DBBackupRole, false)
}

// forgeChecksum rewrites the manifest in dir so file's size and checksum
// match its current content.
func forgeChecksum(t testing.TB, dir, file string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, backup.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m backup.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	for i := range m.Files {
		if m.Files[i].Name == file {
			m.Files[i].Size, m.Files[i].SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
		}
	}
	raw, _ = json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, backup.ManifestFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
}
