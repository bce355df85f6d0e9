package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Deal is a row of deals as the API shows it. Value is a decimal number,
// passed through as Postgres numeric text so no precision is lost.
type Deal struct {
	ID        string      `json:"id"`
	OrgID     string      `json:"org_id"`
	ContactID *string     `json:"contact_id"`
	Name      string      `json:"name"`
	Value     json.Number `json:"value"`
	Stage     string      `json:"stage"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// DealInput is the body of POST and PUT /api/deals. PUT replaces every
// field: an omitted contact_id becomes null, value 0 and stage "sql", as on
// creation. The database checks stage (sql, opportunity, verbal, signed),
// value (>= 0) and that contact_id names a contact of the same organization.
type DealInput struct {
	Name      string      `json:"name"`
	ContactID *string     `json:"contact_id"`
	Value     json.Number `json:"value"`
	Stage     string      `json:"stage"`
}

func (in *DealInput) check() error {
	if strings.TrimSpace(in.Name) == "" {
		return errorf(http.StatusUnprocessableEntity, "invalid", "name is required")
	}
	if in.ContactID != nil {
		id, ok := parseUUID(*in.ContactID)
		if !ok {
			return errorf(http.StatusUnprocessableEntity, "invalid", "contact_id must be a UUID")
		}
		in.ContactID = &id
	}
	if in.Value == "" {
		in.Value = "0"
	}
	if _, err := in.Value.Float64(); err != nil {
		return errorf(http.StatusUnprocessableEntity, "invalid", "value must be a number")
	}
	if in.Stage == "" {
		in.Stage = "sql"
	}
	return nil
}

const dealColumns = `id::text, org_id::text, contact_id::text, name, value::text, stage, created_at, updated_at`

func scanDeal(row pgx.Row) (Deal, error) {
	var d Deal
	var value string
	err := row.Scan(&d.ID, &d.OrgID, &d.ContactID, &d.Name, &value, &d.Stage, &d.CreatedAt, &d.UpdatedAt)
	d.Value = json.Number(value)
	return d, err
}

// listDeals answers GET /api/deals[?stage=S][&limit=N], most recently moved
// first.
func listDeals(ctx context.Context, tx querier, q *request) (int, any, error) {
	limit, err := listLimit(q.r)
	if err != nil {
		return 0, nil, err
	}
	rows, err := tx.Query(ctx, `SELECT `+dealColumns+` FROM deals
		WHERE ($1 = '' OR stage = $1)
		ORDER BY stage_changed_at DESC, id LIMIT $2`, q.r.URL.Query().Get("stage"), limit)
	if err != nil {
		return 0, nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Deal, error) { return scanDeal(r) })
	if err != nil {
		return 0, nil, err
	}
	if out == nil {
		out = []Deal{}
	}
	return http.StatusOK, map[string]any{"deals": out}, nil
}

func getDeal(ctx context.Context, tx querier, q *request) (int, any, error) {
	id, err := q.id()
	if err != nil {
		return 0, nil, err
	}
	d, err := scanDeal(tx.QueryRow(ctx, `SELECT `+dealColumns+` FROM deals WHERE id = $1`, id))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d, nil
}

func createDeal(ctx context.Context, tx querier, q *request) (int, any, error) {
	var in DealInput
	if err := q.decode(&in); err != nil {
		return 0, nil, err
	}
	if err := in.check(); err != nil {
		return 0, nil, err
	}
	d, err := scanDeal(tx.QueryRow(ctx, `INSERT INTO deals (org_id, contact_id, name, value, stage)
		VALUES ($1, $2::uuid, $3, $4::numeric, $5) RETURNING `+dealColumns,
		q.org, in.ContactID, in.Name, string(in.Value), in.Stage))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, d, nil
}

func updateDeal(ctx context.Context, tx querier, q *request) (int, any, error) {
	id, err := q.id()
	if err != nil {
		return 0, nil, err
	}
	var in DealInput
	if err := q.decode(&in); err != nil {
		return 0, nil, err
	}
	if err := in.check(); err != nil {
		return 0, nil, err
	}
	d, err := scanDeal(tx.QueryRow(ctx, `UPDATE deals SET contact_id = $2::uuid, name = $3, value = $4::numeric, stage = $5
		WHERE id = $1 RETURNING `+dealColumns, id, in.ContactID, in.Name, string(in.Value), in.Stage))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d, nil
}

func deleteDeal(ctx context.Context, tx querier, q *request) (int, any, error) {
	id, err := q.id()
	if err != nil {
		return 0, nil, err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM deals WHERE id = $1`, id)
	if err != nil {
		return 0, nil, err
	}
	if tag.RowsAffected() == 0 {
		return 0, nil, errNotFound
	}
	return http.StatusNoContent, nil, nil
}
