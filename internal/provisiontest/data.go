package provisiontest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/app"
)

// Data is what WriteData wrote into a tenant's stack, for CheckData to read
// back: a contact row written through the tenant's app (with the
// credentials Vault issued to it) and a Redis key.
type Data struct {
	Org, Contact, Name string
	RedisKey, Redis    string
}

// WriteData writes a row and a Redis key into tenant id's stack: an
// organization (as the observer), a contact through the app's API (with the
// app's own Vault credentials) and a key with fresh Redis credentials of the
// app's role. The up that started the tenant must have returned.
func (h *Harness) WriteData(id string) Data {
	h.t.Helper()
	n := Names(h.t, id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := Data{Name: "Kept " + randomHex(h, 4), RedisKey: id + ":kept:" + randomHex(h, 4), Redis: randomHex(h, 8)}
	// The organization is written in its own row-level-security context,
	// so the observer may be the schema owner (a real agent's), whom FORCE
	// ROW LEVEL SECURITY holds to it, or a superuser (the double's).
	d.Org = newUUID(h)
	tx, err := h.Observe(id, n.Database).Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, `SELECT set_config('app.current_org', $1, true)`, d.Org)
	}
	if err == nil {
		_, err = tx.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, $2)`, d.Org, "Org of "+id)
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		h.t.Fatalf("write data of %s: organization: %v", id, err)
	}
	var c app.Contact
	if status, err := h.appCall(ctx, id, d.Org, http.MethodPost, "/api/contacts", app.ContactInput{Name: d.Name}, &c); err != nil || status != http.StatusCreated {
		h.t.Fatalf("write data of %s: POST /api/contacts: got %d, %v; want 201", id, status, err)
	}
	d.Contact = c.ID
	rc := h.redisAs(ctx, id)
	defer rc.Close()
	if err := rc.Set(ctx, d.RedisKey, d.Redis, 0).Err(); err != nil {
		h.t.Fatalf("write data of %s: redis SET: %v", id, err)
	}
	return d
}

// CheckData reads d back from tenant id's stack: the contact through the
// app's API (so with the credentials the app's allocation got from Vault)
// and the Redis key with fresh credentials Vault issues now. It returns what
// differs, nil when everything came back.
func (h *Harness) CheckData(id string, d Data) error {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var c app.Contact
	status, err := h.appCall(ctx, id, d.Org, http.MethodGet, "/api/contacts/"+d.Contact, nil, &c)
	if err != nil || status != http.StatusOK || c.Name != d.Name {
		return fmt.Errorf("GET /api/contacts/%s of %s: got %d %q, %v; want 200 %q", d.Contact, id, status, c.Name, err, d.Name)
	}
	rc := h.redisAs(ctx, id)
	defer rc.Close()
	got, err := rc.Get(ctx, d.RedisKey).Result()
	if err != nil || got != d.Redis {
		return fmt.Errorf("redis GET %s of %s: got %q, %v; want the value written before", d.RedisKey, id, got, err)
	}
	return nil
}

// appCall calls the tenant's app through a passing instance of its service
// for organization org and decodes its JSON answer into out.
func (h *Harness) appCall(ctx context.Context, id, org, method, path string, in, out any) (int, error) {
	addr, err := h.passingAddr(ctx, Names(h.t, id).ServiceApp)
	if err != nil {
		return 0, err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set(app.OrgHeader, org)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// redisAs connects to the tenant's Redis (a passing instance of its service)
// as a dynamic user of the app's Redis role, issued by Vault now.
func (h *Harness) redisAs(ctx context.Context, id string) *redis.Client {
	h.t.Helper()
	n := Names(h.t, id)
	addr, err := h.passingAddr(ctx, n.ServiceRedis)
	if err != nil {
		h.t.Fatalf("redis of %s: %v", id, err)
	}
	user, pass, err := creds(ctx, h.vaultRoot, h.cfg.Vault.DatabaseMount, n.RedisRoleApp)
	if err != nil {
		h.t.Fatalf("redis credentials of %s: %v", id, err)
	}
	return redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: pass,
		DialTimeout: 2 * time.Second, MaxRetries: -1, DisableIdentity: true, Protocol: 2})
}

// newUUID returns a random (version 4) UUID.
func newUUID(h *Harness) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		h.t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

func randomHex(h *Harness, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		h.t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// DestroyData deletes every row of every table of tenant id's database
// (as the observer) but the migrations' version table, and every key of
// its Redis: what a backup must bring back.
func (h *Harness) DestroyData(id string) {
	h.t.Helper()
	n := Names(h.t, id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := h.Observe(id, n.Database)
	tables := h.userTables(ctx, id)
	if len(tables) > 0 {
		if _, err := conn.Exec(ctx, "TRUNCATE "+strings.Join(tables, ", ")+" CASCADE"); err != nil {
			h.t.Fatalf("destroy data of %s: %v", id, err)
		}
	}
	rc := h.redisAs(ctx, id)
	defer rc.Close()
	keys, err := scanKeys(ctx, rc)
	if err == nil && len(keys) > 0 {
		err = rc.Del(ctx, keys...).Err()
	}
	if err != nil {
		h.t.Fatalf("destroy redis keys of %s: %v", id, err)
	}
}

// userTables returns tenant id's tables (schema-qualified, quoted) but the
// migrations' version table.
func (h *Harness) userTables(ctx context.Context, id string) []string {
	h.t.Helper()
	n := Names(h.t, id)
	rows, err := h.Observe(id, n.Database).Query(ctx, `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tablename NOT LIKE 'goose%' ORDER BY 1`)
	if err != nil {
		h.t.Fatalf("tables of %s: %v", id, err)
	}
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// Fingerprint is a tenant's data, table by table and key by key: each
// table's rows (as text, sorted) digested, and each Redis key's value.
type Fingerprint struct {
	Tables map[string]string // table → row count and digest of its sorted rows
	Keys   map[string]string // key → type and value (strings), type and length otherwise
}

// DataFingerprint reads tenant id's data as the observer (every row, past
// row-level security) and with fresh Redis credentials of the app's role.
func (h *Harness) DataFingerprint(id string) Fingerprint {
	h.t.Helper()
	n := Names(h.t, id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fp := Fingerprint{Tables: map[string]string{}, Keys: map[string]string{}}
	conn := h.Observe(id, n.Database)
	for _, t := range h.userTables(ctx, id) {
		var count int64
		var digest *string
		err := conn.QueryRow(ctx, `SELECT count(*), md5(string_agg(r::text, E'\n' ORDER BY r::text)) FROM `+t+` r`).Scan(&count, &digest)
		if err != nil {
			h.t.Fatalf("fingerprint %s of %s: %v", t, id, err)
		}
		d := ""
		if digest != nil {
			d = *digest
		}
		fp.Tables[t] = fmt.Sprintf("%d rows %s", count, d)
	}
	rc := h.redisAs(ctx, id)
	defer rc.Close()
	keys, err := scanKeys(ctx, rc)
	if err != nil {
		h.t.Fatalf("redis keys of %s: %v", id, err)
	}
	for _, k := range keys {
		typ, err := rc.Type(ctx, k).Result()
		if err != nil {
			h.t.Fatal(err)
		}
		switch typ {
		case "string":
			v, _ := rc.Get(ctx, k).Result()
			fp.Keys[k] = "string " + v
		case "stream":
			l, _ := rc.XLen(ctx, k).Result()
			fp.Keys[k] = fmt.Sprintf("stream %d", l)
		case "hash":
			v, _ := rc.HGetAll(ctx, k).Result()
			fp.Keys[k] = fmt.Sprintf("hash %v", v)
		default:
			fp.Keys[k] = typ
		}
	}
	return fp
}

// scanKeys lists every key with SCAN (the app's role may not run KEYS).
func scanKeys(ctx context.Context, rc *redis.Client) ([]string, error) {
	var out []string
	var cursor uint64
	for {
		keys, next, err := rc.Scan(ctx, cursor, "*", 500).Result()
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

// ConsulAPI is a Consul client with the root token (not through the proxy).
func (h *Harness) ConsulAPI() *consulapi.Client { return h.consulAPI }

// AssertIsolated checks that neither tenant's credentials reach the other's
// data: Postgres and Redis credentials Vault issues now for a's app role are
// refused by b's Postgres and Redis, and the other way round.
func (h *Harness) AssertIsolated(a, b string) error {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mount := h.cfg.Vault.DatabaseMount
	for _, p := range [][2]string{{a, b}, {b, a}} {
		from, to := Names(h.t, p[0]), Names(h.t, p[1])
		user, pass, err := creds(ctx, h.vaultRoot, mount, from.DBRoleApp)
		if err != nil {
			return err
		}
		pgAddr, err := h.passingAddr(ctx, to.ServicePostgres)
		if err != nil {
			return err
		}
		for _, db := range []string{to.Database, from.Database} {
			dsn := fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&connect_timeout=5", url.PathEscape(user), url.PathEscape(pass), pgAddr, db)
			if conn, err := pgx.Connect(ctx, dsn); err == nil {
				conn.Close(ctx)
				return fmt.Errorf("%s's app credentials log in to %s's Postgres (database %s); want them refused", p[0], p[1], db)
			}
		}
		ruser, rpass, err := creds(ctx, h.vaultRoot, mount, from.RedisRoleApp)
		if err != nil {
			return err
		}
		redisAddr, err := h.passingAddr(ctx, to.ServiceRedis)
		if err != nil {
			return err
		}
		rc := redis.NewClient(&redis.Options{Addr: redisAddr, Username: ruser, Password: rpass,
			DialTimeout: 2 * time.Second, MaxRetries: -1, DisableIdentity: true, Protocol: 2})
		err = rc.Ping(ctx).Err()
		rc.Close()
		if err == nil {
			return fmt.Errorf("%s's app credentials log in to %s's Redis; want them refused", p[0], p[1])
		}
	}
	return nil
}
