package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxBody bounds request bodies.
const maxBody = 1 << 20

// apiError is an error with an HTTP status and a stable code, answered as
//
//	{"error": {"code": "not_found", "message": "contact not found"}}
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

var errNotFound = errorf(http.StatusNotFound, "not_found", "no such row in this organization")

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers err as JSON. Errors that are not *apiError, after
// classifyError, are answered as 500 without their text, which the request
// log records instead.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := classifyError(err)
	if ae.Status >= 500 {
		noteError(r, err)
	}
	body := map[string]any{"error": map[string]string{"code": ae.Code, "message": ae.Message}}
	writeJSON(w, ae.Status, body)
}

// classifyError maps err to what the client is told. Postgres errors caused
// by the request's data (class 22 and 23, and row-level security refusing a
// row) are the client's; connection failures are 503; the rest are 500.
func classifyError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return errNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23503":
			return errorf(http.StatusUnprocessableEntity, "unknown_reference",
				"a referenced row does not exist in this organization (%s)", pe.ConstraintName)
		case pe.Code == "23505":
			return errorf(http.StatusConflict, "conflict", "a row with these values exists (%s)", pe.ConstraintName)
		case pe.Code == "42501" && strings.Contains(pe.Message, "row-level security"):
			return errorf(http.StatusForbidden, "forbidden", "the organization may not write this row")
		case pe.Code == "42501", pe.Code == "42P01":
			// The user lost its privileges (a revoked lease: Vault dropped
			// the role, so its pooled sessions no longer see the schema),
			// or the schema is not migrated yet.
			return errorf(http.StatusServiceUnavailable, "unavailable", "the database refused the app's credentials or has no schema")
		case strings.HasPrefix(pe.Code, "23"), strings.HasPrefix(pe.Code, "22"):
			msg := pe.Message
			if pe.ConstraintName != "" {
				msg = "violates " + pe.ConstraintName
			}
			return errorf(http.StatusUnprocessableEntity, "invalid", "%s", msg)
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"), pe.Code == "28P01", pe.Code == "28000":
			return errorf(http.StatusServiceUnavailable, "unavailable", "the database is unavailable")
		}
		return errorf(http.StatusInternalServerError, "internal", "internal error")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errorf(http.StatusServiceUnavailable, "timeout", "the request timed out")
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		return errorf(http.StatusServiceUnavailable, "unavailable", "the database is unavailable")
	}
	return errorf(http.StatusInternalServerError, "internal", "internal error")
}

// decodeBody decodes the JSON request body into v, rejecting unknown fields
// and trailing data.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "bad_json", "request body: %s", err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, "bad_json", "request body: trailing data after the JSON value")
	}
	return nil
}
