package app

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Environment variables tenant-app reads. The four connection settings come
// from the files named by EnvFileVar (one path, or several joined by ":")
// when it is set (a Nomad template renders
// it from Vault), otherwise from the process environment. They are never
// taken from the command line, where other users of the host could read them.
const (
	EnvFileVar       = "TENANT_APP_ENV_FILE"
	DatabaseURLVar   = "DATABASE_URL"
	RedisAddrVar     = "REDIS_ADDR"
	RedisUsernameVar = "REDIS_USERNAME"
	RedisPasswordVar = "REDIS_PASSWORD"
)

// Settings are the connection settings of one generation of credentials.
// They hold secrets: never log or print them; String redacts them.
type Settings struct {
	// DatabaseURL is postgres://user:password@host:port/db?sslmode=….
	DatabaseURL string
	// RedisAddr is host:port.
	RedisAddr     string
	RedisUsername string
	RedisPassword string
}

// String describes s without its secrets: the database as host/db and user,
// Redis as address and user.
func (s Settings) String() string {
	db := "invalid"
	if u, err := url.Parse(s.DatabaseURL); err == nil {
		db = fmt.Sprintf("%s%s as %s", u.Host, u.Path, u.User.Username())
	}
	return fmt.Sprintf("postgres %s, redis %s as %s", db, s.RedisAddr, s.RedisUsername)
}

// validate checks that s is complete and parsable; errors name the variable
// but never echo a value that may carry a password.
func (s Settings) validate() error {
	if s.DatabaseURL == "" {
		return fmt.Errorf("settings: %s is empty", DatabaseURLVar)
	}
	u, err := url.Parse(s.DatabaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return fmt.Errorf("settings: %s is not a postgres:// URL", DatabaseURLVar)
	}
	if _, err := pgxpool.ParseConfig(s.DatabaseURL); err != nil {
		return fmt.Errorf("settings: %s (%s) does not parse as a pgx pool configuration", DatabaseURLVar, u.Redacted())
	}
	if s.RedisAddr == "" {
		return fmt.Errorf("settings: %s is empty", RedisAddrVar)
	}
	if _, _, err := net.SplitHostPort(s.RedisAddr); err != nil {
		return fmt.Errorf("settings: %s %q: %w", RedisAddrVar, s.RedisAddr, err)
	}
	if s.RedisPassword != "" && s.RedisUsername == "" {
		return fmt.Errorf("settings: %s is set but %s is empty", RedisPasswordVar, RedisUsernameVar)
	}
	return nil
}

// SettingsSource says where settings are read from: the env files in File
// when it is not empty, otherwise Getenv. File is one path or several joined
// by the OS's list separator (":"), read in order, a later file's keys
// overriding an earlier one's: Nomad renders each credential with its own
// template into its own file.
type SettingsSource struct {
	File   string
	Getenv func(string) string
}

// Load reads and validates the current settings.
func (src SettingsSource) Load() (Settings, error) {
	get := src.Getenv
	if src.File != "" {
		vals := map[string]string{}
		for _, f := range filepath.SplitList(src.File) {
			b, err := os.ReadFile(f)
			if err != nil {
				return Settings{}, fmt.Errorf("settings: read %s: %w", EnvFileVar, err)
			}
			fv, err := ParseEnvFile(b)
			if err != nil {
				return Settings{}, fmt.Errorf("settings: %s: %w", f, err)
			}
			maps.Copy(vals, fv)
		}
		get = func(k string) string { return vals[k] }
	}
	if get == nil {
		get = func(string) string { return "" }
	}
	s := Settings{
		DatabaseURL:   get(DatabaseURLVar),
		RedisAddr:     get(RedisAddrVar),
		RedisUsername: get(RedisUsernameVar),
		RedisPassword: get(RedisPasswordVar),
	}
	if err := s.validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// ParseEnvFile parses KEY=VALUE lines, as the Nomad template renders them.
// Blank lines and lines starting with # are skipped, surrounding whitespace
// is trimmed, and a value wrapped in one pair of single or double quotes is
// unwrapped. Nothing is expanded: passwords may contain $ and \. When a key
// repeats, the last line wins. Errors name the line number only, never its
// text.
func ParseEnvFile(b []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			return nil, fmt.Errorf("line %d: want KEY=VALUE", n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, errors.New("read: " + err.Error())
	}
	return out, nil
}
