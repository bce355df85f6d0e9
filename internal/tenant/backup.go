package tenant

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// backupIDRE is a backup id: its UTC creation time to the second and six
// hex digits, such as 20261202T031500Z-a1b2c3. Ids sort by time, are safe
// in a file path, a Nomad meta value and a Consul key, and never contain
// "/" or "..".
var backupIDRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

// backupTimeLayout is the time part of a backup id.
const backupTimeLayout = "20060102T150405Z"

// NewBackupID returns the backup id for time t and three random bytes.
func NewBackupID(t time.Time, random [3]byte) string {
	return t.UTC().Format(backupTimeLayout) + "-" + hex.EncodeToString(random[:])
}

// ValidateBackupID checks that s is a backup id (NewBackupID's form).
func ValidateBackupID(s string) error {
	if !backupIDRE.MatchString(s) {
		return fmt.Errorf("backup id %q: want the form 20261202T031500Z-a1b2c3 (`tenantctl backups list <tenant>` shows them)", s)
	}
	if _, err := time.Parse(backupTimeLayout, s[:16]); err != nil {
		return fmt.Errorf("backup id %q: its time is not a date: %v", s, err)
	}
	return nil
}

// Backup triggers: what started a backup.
const (
	BackupByCommand  = "command"  // tenantctl backup
	BackupBySchedule = "schedule" // the scheduled-backup job
	BackupFinal      = "final"    // down --purge-data, before the data goes
)

// BackupFile is one file of a backup: its name in the backup's directory,
// size in bytes and SHA-256 (hex).
type BackupFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Backup is the catalogue entry of one backup, as tenantctl stores it in
// Consul KV (Names.BackupsKVPrefix + id): the backup job's manifest and
// where it came from. It never holds a secret.
type Backup struct {
	// Format is the backup layout's version (the runner's FormatVersion).
	Format int    `json:"format"`
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	// Created is when the runner took the backup (UTC), DurationMS how long
	// it took.
	Created    time.Time `json:"created"`
	DurationMS int64     `json:"duration_ms"`
	// SchemaVersion is the tenant database's migration version at the
	// time; a restore refuses a version newer than its migrations know.
	SchemaVersion    int64        `json:"schema_version"`
	TenantctlVersion string       `json:"tenantctl_version"`
	Files            []BackupFile `json:"files"`
	// Postgres and Redis summarise the data: rows per table, keys.
	Postgres BackupPostgres `json:"postgres"`
	Redis    BackupRedis    `json:"redis"`
	// Trigger is what started it (BackupByCommand, BackupBySchedule,
	// BackupFinal); Job the Nomad job that took it.
	Trigger string `json:"trigger,omitempty"`
	Job     string `json:"job,omitempty"`
}

// BackupPostgres summarises a backup's database dump.
type BackupPostgres struct {
	ServerVersion int              `json:"server_version"`
	Rows          map[string]int64 `json:"rows,omitempty"`
}

// BackupRedis summarises a backup's Redis snapshot.
type BackupRedis struct {
	Keys       int64 `json:"keys"`
	Persistent int64 `json:"persistent"`
}

// Size is the total size of the backup's files in bytes.
func (b Backup) Size() int64 {
	var n int64
	for _, f := range b.Files {
		n += f.Size
	}
	return n
}

// Validate checks what a restore relies on: a valid id of this tenant's
// backup with at least one file, each with a size and checksum.
func (b Backup) Validate(tenant ID) error {
	if err := ValidateBackupID(b.ID); err != nil {
		return err
	}
	if b.Tenant != tenant.String() {
		return fmt.Errorf("backup %s is of tenant %q, not %q", b.ID, b.Tenant, tenant)
	}
	if len(b.Files) == 0 {
		return fmt.Errorf("backup %s lists no files", b.ID)
	}
	for _, f := range b.Files {
		if f.Name == "" || f.Size < 0 || len(f.SHA256) != 64 {
			return fmt.Errorf("backup %s: file %q has no size or sha256", b.ID, f.Name)
		}
	}
	return nil
}

// HumanSize formats n bytes as B, KiB, MiB or GiB.
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 2; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMG"[exp])
}
