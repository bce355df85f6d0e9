package app

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Contact is a row of contacts as the API shows it.
type Contact struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"org_id"`
	Name      string    `json:"name"`
	Email     *string   `json:"email"`
	Phone     *string   `json:"phone"`
	Company   *string   `json:"company"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ContactInput is the body of POST and PUT /api/contacts. PUT replaces every
// field: an omitted field becomes null.
type ContactInput struct {
	Name    string  `json:"name"`
	Email   *string `json:"email"`
	Phone   *string `json:"phone"`
	Company *string `json:"company"`
}

func (in *ContactInput) check() error {
	if strings.TrimSpace(in.Name) == "" {
		return errorf(http.StatusUnprocessableEntity, "invalid", "name is required")
	}
	return nil
}

const contactColumns = `id::text, org_id::text, name, email, phone, company, created_at, updated_at`

func scanContact(row pgx.Row) (Contact, error) {
	var c Contact
	err := row.Scan(&c.ID, &c.OrgID, &c.Name, &c.Email, &c.Phone, &c.Company, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

// listLimit reads ?limit= (default 100, at most 500).
func listLimit(r *http.Request) (int, error) {
	raw := r.URL.Query().Get("limit")
	if raw == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 500 {
		return 0, errorf(http.StatusBadRequest, "invalid_limit", "limit must be 1 to 500")
	}
	return n, nil
}

// listContacts answers GET /api/contacts[?q=name-part][&limit=N], ordered by
// name. Row-level security limits it to the organization.
func listContacts(ctx context.Context, tx querier, q *request) (int, any, error) {
	limit, err := listLimit(q.r)
	if err != nil {
		return 0, nil, err
	}
	rows, err := tx.Query(ctx, `SELECT `+contactColumns+` FROM contacts
		WHERE ($1 = '' OR name ILIKE '%' || $1 || '%')
		ORDER BY lower(name), id LIMIT $2`, q.r.URL.Query().Get("q"), limit)
	if err != nil {
		return 0, nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Contact, error) { return scanContact(r) })
	if err != nil {
		return 0, nil, err
	}
	if out == nil {
		out = []Contact{}
	}
	return http.StatusOK, map[string]any{"contacts": out}, nil
}

func getContact(ctx context.Context, tx querier, q *request) (int, any, error) {
	id, err := q.id()
	if err != nil {
		return 0, nil, err
	}
	c, err := scanContact(tx.QueryRow(ctx, `SELECT `+contactColumns+` FROM contacts WHERE id = $1`, id))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c, nil
}

func createContact(ctx context.Context, tx querier, q *request) (int, any, error) {
	var in ContactInput
	if err := q.decode(&in); err != nil {
		return 0, nil, err
	}
	if err := in.check(); err != nil {
		return 0, nil, err
	}
	c, err := scanContact(tx.QueryRow(ctx, `INSERT INTO contacts (org_id, name, email, phone, company)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+contactColumns, q.org, in.Name, in.Email, in.Phone, in.Company))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c, nil
}

func updateContact(ctx context.Context, tx querier, q *request) (int, any, error) {
	id, err := q.id()
	if err != nil {
		return 0, nil, err
	}
	var in ContactInput
	if err := q.decode(&in); err != nil {
		return 0, nil, err
	}
	if err := in.check(); err != nil {
		return 0, nil, err
	}
	c, err := scanContact(tx.QueryRow(ctx, `UPDATE contacts SET name = $2, email = $3, phone = $4, company = $5
		WHERE id = $1 RETURNING `+contactColumns, id, in.Name, in.Email, in.Phone, in.Company))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c, nil
}

func deleteContact(ctx context.Context, tx querier, q *request) (int, any, error) {
	id, err := q.id()
	if err != nil {
		return 0, nil, err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM contacts WHERE id = $1`, id)
	if err != nil {
		return 0, nil, err
	}
	if tag.RowsAffected() == 0 {
		return 0, nil, errNotFound
	}
	return http.StatusNoContent, nil, nil
}
