package app

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// OrgHeader names the organization a request acts for.
const OrgHeader = "X-Org-ID"

// parseUUID returns s in canonical lower-case form when it is a UUID
// (8-4-4-4-12 hex digits).
func parseUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return "", false
			}
		}
	}
	return strings.ToLower(s), true
}

// orgOf returns the request's organization from OrgHeader.
func orgOf(r *http.Request) (string, error) {
	raw := r.Header.Get(OrgHeader)
	if raw == "" {
		return "", errorf(http.StatusBadRequest, "missing_org", "the %s header is required", OrgHeader)
	}
	org, ok := parseUUID(raw)
	if !ok {
		return "", errorf(http.StatusBadRequest, "invalid_org", "the %s header must be a UUID", OrgHeader)
	}
	return org, nil
}

// pathID returns the {id} path value as a UUID.
func pathID(r *http.Request) (string, error) {
	id, ok := parseUUID(r.PathValue("id"))
	if !ok {
		return "", errorf(http.StatusBadRequest, "invalid_id", "the id must be a UUID")
	}
	return id, nil
}

// querier is what handlers use of their request's transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inOrg runs fn in a transaction on the current Postgres pool with the
// session setting app.current_org set to org for that transaction only.
// Row-level security does the isolation: fn's queries never filter by
// organization themselves. The transaction commits when fn returns nil.
//
// BEGIN and set_config go to the server in one pipelined round trip; a
// connection released with its transaction still open (a failed ROLLBACK)
// is discarded by the pool, never reused.
func inOrg(ctx context.Context, b *backends, org string, readOnly bool, fn func(querier) error) error {
	conn, err := b.pg.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	begin := "BEGIN"
	if readOnly {
		begin = "BEGIN READ ONLY"
	}
	batch := &pgx.Batch{}
	batch.Queue(begin)
	batch.Queue(`SELECT set_config('app.current_org', $1, true)`, org)
	open := true
	defer func() {
		if open {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return err
	}
	if err := fn(conn); err != nil {
		return err
	}
	tag, err := conn.Exec(ctx, "COMMIT")
	if err != nil {
		return err
	}
	open = false
	if tag.String() == "ROLLBACK" {
		return errors.New("postgres: the transaction was rolled back at commit")
	}
	return nil
}
