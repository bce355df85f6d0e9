package app

import (
	"context"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
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

// inOrg runs fn in a transaction on the current Postgres pool with the
// session setting app.current_org set to org for that transaction only.
// Row-level security does the isolation: fn's queries never filter by
// organization themselves. The transaction commits when fn returns nil.
func inOrg(ctx context.Context, b *backends, org string, readOnly bool, fn func(pgx.Tx) error) error {
	opts := pgx.TxOptions{}
	if readOnly {
		opts.AccessMode = pgx.ReadOnly
	}
	tx, err := b.pg.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT set_config('app.current_org', $1, true)`, org); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
