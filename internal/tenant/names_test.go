package tenant

import (
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// systemOf says which system each field of Names names something in. Names
// must differ within one system; different systems may share one (the Nomad
// job and the Consul service of postgres).
var systemOf = map[string]string{
	"Namespace": "nomad", "JobPostgres": "nomad", "JobRedis": "nomad", "JobApp": "nomad", "JobWorker": "nomad",
	"JobMigrate": "nomad", "JobBackup": "nomad", "JobRestore": "nomad", "JobScheduledBackup": "nomad",
	"BackupsKVPrefix": "consul-kv", "VolumePostgres": "nomad-volume", "VolumeRedis": "nomad-volume",
	"ServiceApp": "consul-service", "ServiceWorker": "consul-service", "ServicePostgres": "consul-service",
	"ServiceRedis": "consul-service", "KVPrefix": "consul-kv", "LockKey": "consul-kv",
	// An identity names a jwt role and an ACL policy.
	"IdentityPostgres": "vault-identity", "IdentityRedis": "vault-identity", "IdentityMigrate": "vault-identity",
	"IdentityApp": "vault-identity", "IdentityWorker": "vault-identity", "IdentityBackup": "vault-identity",
	"IdentityRestore": "vault-identity", "IdentityScheduledBackup": "vault-identity",
	"DBRoleBackup": "vault-db", "DBRoleRestore": "vault-db", "DBRoleScheduledBackup": "vault-db",
	"RedisRoleBackup": "vault-db", "RedisRoleRestore": "vault-db", "RedisRoleScheduledBackup": "vault-db",

	"SharedPolicy": "vault-policy", "SharedJWTRole": "vault-identity", "DBConnection": "vault-db", "RedisConnection": "vault-db",
	"DBRoleApp": "vault-db", "DBRoleWorker": "vault-db", "DBRoleMigrate": "vault-db", "RedisRoleApp": "vault-db",
	"RedisRoleWorker": "vault-db", "BootstrapPath": "vault-kv",
	"Database": "postgres", "OwnerRole": "postgres", "AppGroupRole": "postgres", "DBBackupRole": "postgres",
	"RedisAdminUser": "redis", "RedisACLSaveUser": "redis",
}

// allNames returns every string field of n, labelled "<system>.<field>", so
// the tests below cover a name as soon as it is added to Names.
func allNames(t testing.TB, n Names) map[string]string {
	t.Helper()
	out := map[string]string{}
	v := reflect.ValueOf(n)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Type.Kind() != reflect.String || f.Name == "ID" {
			continue
		}
		sys, ok := systemOf[f.Name]
		if !ok {
			t.Fatalf("Names.%s has no entry in systemOf; add the system it names something in", f.Name)
		}
		out[sys+"."+f.Name] = v.Field(i).String()
	}
	return out
}

// generatedIDs returns a deterministic set of valid ids rich in shared
// prefixes: acme, acme2, acme-corp, acme-c, a1, a1-2 and random ones.
func generatedIDs(t *testing.T) []ID {
	t.Helper()
	seen := map[string]bool{}
	add := func(s string) {
		if _, err := ParseID(s); err == nil {
			seen[s] = true
		}
	}
	// Ids that spell a base id followed by a component or part of one
	// ("acme-app", "acme-redis-a") are where a weaker separator would fail.
	var components []string
	for _, name := range allNames(t, NamesFor("x")) {
		if c, ok := strings.CutPrefix(name, "x"); ok && strings.Trim(c, "-_") != "" {
			components = append(components, strings.TrimLeft(c, "-_"))
		}
	}
	for _, base := range []string{"acme", "ab", "a1", "x", "ac", "acme-corp", "z9"} {
		for _, c := range components {
			for k := 1; k <= len(c); k++ {
				add(base + "-" + c[:k])
			}
		}
		add(base)
		for _, suffix := range []string{"2", "-2", "-corp", "-c", "c", "-a-b", "0", "-prod", "x"} {
			add(base + suffix)
			add(base + suffix + "-1")
		}
	}
	r := rand.New(rand.NewPCG(4, 2))
	const alphabet = "abc12-"
	for len(seen) < 3000 {
		n := 2 + r.IntN(10)
		b := []byte{"abc"[r.IntN(3)]}
		for len(b) < n {
			b = append(b, alphabet[r.IntN(len(alphabet))])
		}
		add(string(b))
	}
	ids := make([]ID, 0, len(seen))
	for s := range seen {
		ids = append(ids, ID(s))
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func TestNamesArePrefixSafe(t *testing.T) {
	ids := generatedIDs(t)
	type named struct {
		id          ID
		label, name string
	}
	var all []named
	for _, id := range ids {
		for label, name := range allNames(t, NamesFor(id)) {
			all = append(all, named{id, label, name})
		}
	}
	// Every name that has name p as a prefix sorts right after p, so
	// scanning forward from each name while the prefix holds finds every
	// pair (p, q) where p is a prefix of q.
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	for i, a := range all {
		for _, b := range all[i+1:] {
			if !strings.HasPrefix(b.name, a.name) {
				break
			}
			if a.id != b.id {
				t.Fatalf("%s of %q (%q) is a prefix of %s of %q (%q); want no prefix across tenants",
					a.label, a.id, a.name, b.label, b.id, b.name)
			}
		}
	}
	t.Logf("checked %d ids, %d names", len(ids), len(all))
}

func TestNamesAreDistinctWithinTenant(t *testing.T) {
	n := NamesFor("acme")
	byName := map[string]string{}
	for label, name := range allNames(t, n) {
		if name == "" {
			t.Errorf("%s is empty", label)
		}
		// Different systems may reuse a name (the Nomad job and the Consul
		// service of postgres); within one system they must differ.
		key := strings.SplitN(label, ".", 2)[0] + ":" + name
		if other, ok := byName[key]; ok {
			t.Errorf("%s and %s are both %q", label, other, name)
		}
		byName[key] = label
	}
}

func TestNamesFor(t *testing.T) {
	n := NamesFor("acme-corp")
	for got, want := range map[string]string{
		n.Namespace: "acme-corp--tenant", n.JobPostgres: "acme-corp--postgres", n.IdentityApp: "acme-corp--nomad-app",
		n.Database: "acme_corp__app", n.BootstrapPath: "tenants/acme-corp/bootstrap", n.RedisAdminUser: "acme-corp--admin",
		n.RedisACLSaveUser: "acme-corp--aclsave",
	} {
		if got != want {
			t.Errorf("got %q; want %q", got, want)
		}
	}
}
