package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	// What the jobspec template renders (leading newline from its trimming),
	// plus the variations a hand-written file may have.
	in := "\nDATABASE_URL=postgres://v-app-x:A1b2-c3$d\\e@10.0.0.5:5432/acme__app?sslmode=disable\n" +
		"REDIS_ADDR=10.0.0.6:6379\n" +
		"  # a comment\n" +
		"REDIS_USERNAME = 'V_TOKEN_X'\n" +
		"export REDIS_PASSWORD=\"p=w\"\n" +
		"REDIS_ADDR=10.0.0.7:6379\n"
	got, err := ParseEnvFile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"DATABASE_URL":   "postgres://v-app-x:A1b2-c3$d\\e@10.0.0.5:5432/acme__app?sslmode=disable",
		"REDIS_ADDR":     "10.0.0.7:6379",
		"REDIS_USERNAME": "V_TOKEN_X",
		"REDIS_PASSWORD": "p=w",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q; want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("keys: got %d; want %d", len(got), len(want))
	}

	_, err = ParseEnvFile([]byte("DATABASE_URL=ok\nsecret-password-without-key\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad line: got %v; want an error naming line 2 without its text", err)
	}
}

func TestSettingsLoad(t *testing.T) {
	const password = "s3cret-Passw0rd-xyz"
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "tenant.env")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "DATABASE_URL=postgres://u:" + password + "@127.0.0.1:5432/db?sslmode=disable\nREDIS_ADDR=127.0.0.1:6379\nREDIS_USERNAME=u\nREDIS_PASSWORD=" + password + "\n"
	s, err := SettingsSource{File: write(good)}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.RedisPassword != password || s.RedisAddr != "127.0.0.1:6379" {
		t.Errorf("settings: got redis %s; want the file's values", s.RedisAddr)
	}
	if str := s.String(); strings.Contains(str, password) || !strings.Contains(str, "127.0.0.1:5432/db as u") {
		t.Errorf("String: got %q; want host, database and user without the password", str)
	}

	// Without a file, the process environment.
	env := map[string]string{"DATABASE_URL": "postgres://u:" + password + "@db:5432/x", "REDIS_ADDR": "r:6379"}
	if _, err := (SettingsSource{Getenv: func(k string) string { return env[k] }}).Load(); err != nil {
		t.Errorf("from the environment: %v", err)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"no url", "REDIS_ADDR=r:1\n", "DATABASE_URL is empty"},
		{"not a url", "DATABASE_URL=host=db password=" + password + "\nREDIS_ADDR=r:1\n", "not a postgres:// URL"},
		{"bad option", "DATABASE_URL=postgres://u:" + password + "@db/x?pool_max_conns=lots\nREDIS_ADDR=r:1\n", "does not parse"},
		{"no redis", "DATABASE_URL=postgres://u:" + password + "@db/x\n", "REDIS_ADDR is empty"},
		{"password without user", "DATABASE_URL=postgres://u@db/x\nREDIS_ADDR=r:1\nREDIS_PASSWORD=" + password + "\n", "REDIS_USERNAME is empty"},
	} {
		_, err := SettingsSource{File: write(tc.body)}.Load()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v; want an error containing %q", tc.name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("%s: the error contains the password: %v", tc.name, err)
		}
	}
	if _, err := (SettingsSource{File: filepath.Join(dir, "missing")}).Load(); err == nil {
		t.Errorf("missing file: got nil error")
	}

	// One file per credential, as the jobspecs' templates render them; a
	// later file's keys win.
	pgFile, redisFile := filepath.Join(dir, "postgres.env"), filepath.Join(dir, "redis.env")
	for p, body := range map[string]string{
		pgFile:    "DATABASE_URL=postgres://u:" + password + "@127.0.0.1:5432/db?sslmode=disable\nREDIS_ADDR=old:1\n",
		redisFile: "REDIS_ADDR=127.0.0.1:6380\nREDIS_USERNAME=r\nREDIS_PASSWORD=" + password + "\n",
	} {
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err = SettingsSource{File: pgFile + string(filepath.ListSeparator) + redisFile}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.RedisAddr != "127.0.0.1:6380" || s.RedisUsername != "r" || !strings.Contains(s.DatabaseURL, "127.0.0.1:5432/db") {
		t.Errorf("two files: got %s; want postgres from the first, redis from the second", s)
	}
	if _, err := (SettingsSource{File: pgFile + string(filepath.ListSeparator) + filepath.Join(dir, "missing")}).Load(); err == nil {
		t.Errorf("two files, one missing: got nil error")
	}
}

func TestParseUUID(t *testing.T) {
	for in, want := range map[string]string{
		"0F8FAD5B-D9CB-469F-A165-70867728950E": "0f8fad5b-d9cb-469f-a165-70867728950e",
		"0f8fad5b-d9cb-469f-a165-70867728950e": "0f8fad5b-d9cb-469f-a165-70867728950e",
		"0f8fad5bd9cb469fa16570867728950e":     "",
		"0f8fad5b-d9cb-469f-a165-70867728950g": "",
		"":                                     "",
		"'; DROP TABLE contacts; --aaaaaaaaaa": "",
	} {
		got, ok := parseUUID(in)
		if got != want || ok != (want != "") {
			t.Errorf("parseUUID(%q): got %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestListenAddr(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"raw_exec", map[string]string{"NOMAD_PORT_http": "23456", "NOMAD_HOST_PORT_http": "23456", "NOMAD_IP_http": "10.0.0.4"}, "10.0.0.4:23456"},
		{"docker", map[string]string{"NOMAD_PORT_http": "8080", "NOMAD_HOST_PORT_http": "23456", "NOMAD_IP_http": "10.0.0.4"}, ":8080"},
		{"port only", map[string]string{"NOMAD_PORT_http": "8080"}, ":8080"},
		{"nothing", map[string]string{}, ""},
	} {
		if got := listenAddr(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%s: got %q; want %q", tc.name, got, tc.want)
		}
	}
}
