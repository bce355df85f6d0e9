package tenant

import (
	"testing"
	"time"
)

func TestBackupID(t *testing.T) {
	id := NewBackupID(time.Date(2026, 12, 2, 3, 15, 0, 0, time.FixedZone("x", 3600)), [3]byte{0xa1, 0xb2, 0xc3})
	if id != "20261202T021500Z-a1b2c3" {
		t.Errorf("got %q; want 20261202T021500Z-a1b2c3", id)
	}
	if err := ValidateBackupID(id); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "20261202T021500Z", "20261202T021500Z-A1B2C3", "20261302T021500Z-a1b2c3",
		"../20261202T021500Z-a1b2c3", "20261202T021500Z-a1b2c3/..", "20261202T021500Z-a1b2c3\n"} {
		if ValidateBackupID(bad) == nil {
			t.Errorf("ValidateBackupID(%q): got nil; want an error", bad)
		}
	}
}

func TestBackupValidate(t *testing.T) {
	sum := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	b := Backup{ID: "20261202T021500Z-a1b2c3", Tenant: "acme", Files: []BackupFile{{Name: "postgres.dump", Size: 10, SHA256: sum}}}
	if err := b.Validate("acme"); err != nil {
		t.Error(err)
	}
	if b.Validate("acme-corp") == nil {
		t.Error("another tenant's backup: got nil; want an error")
	}
	if got := HumanSize(1536); got != "1.5 KiB" {
		t.Errorf("HumanSize(1536) = %q; want 1.5 KiB", got)
	}
}
