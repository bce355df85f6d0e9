package provision

import (
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/backup"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

func TestParseBackupLine(t *testing.T) {
	out := "pg_dump: dumping\n" + backup.BackupLinePrefix + `{"id":"old"}` + "\nsome log\n" +
		backup.BackupLinePrefix + `{"format":1,"id":"20261202T031500Z-a1b2c3","tenant":"acme","schema_version":6,"files":[{"name":"postgres.dump","size":10,"sha256":"` +
		strings.Repeat("ab", 32) + `"}],"redis":{"keys":3}}` + "\n"
	b, err := ParseBackupLine(out)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != "20261202T031500Z-a1b2c3" || b.SchemaVersion != 6 || b.Redis.Keys != 3 || b.Size() != 10 {
		t.Errorf("got %+v; want the last line's manifest", b)
	}
	if err := b.Validate(tenant.ID("acme")); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "no line\n", backup.BackupLinePrefix + "{not json\n"} {
		if _, err := ParseBackupLine(bad); err == nil {
			t.Errorf("ParseBackupLine(%q): got nil; want an error", bad)
		}
	}
}

func TestSchemaVersionOf(t *testing.T) {
	if v, err := schemaVersionOf("00006-3f2a9c1b"); err != nil || v != 6 {
		t.Errorf("got %d, %v; want 6", v, err)
	}
	if _, err := schemaVersionOf("x-1"); err == nil {
		t.Error("got nil; want an error")
	}
}
