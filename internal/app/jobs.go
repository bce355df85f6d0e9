package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// DefaultStream is the Redis stream jobs are queued on; each tenant has its
// own Redis, so the name needs no tenant prefix.
const DefaultStream = "tenant-app:jobs"

// Job types.
const (
	// JobCreateDealTask creates a task for a deal. Payload: {"deal_id":
	// uuid, "title": text}. Result: {"task_id": uuid}.
	JobCreateDealTask = "deal.create_task"
	// JobContactScore recalculates a contact's score from its deals.
	// Payload: {"contact_id": uuid}. Result: {"score": n, "deals": n}.
	JobContactScore = "contact.recalculate_score"
)

// Fields of a stream entry.
const (
	fieldOrg     = "org_id"
	fieldKey     = "idempotency_key"
	fieldType    = "type"
	fieldPayload = "payload"
)

// maxStreamLen caps the stream (approximately) when jobs are added.
const maxStreamLen = 100000

// Job is one unit of work for the worker. The idempotency key is unique per
// organization: a job delivered twice, or submitted twice with the same key,
// has its effect once.
type Job struct {
	OrgID          string          `json:"-"`
	IdempotencyKey string          `json:"idempotency_key"`
	Type           string          `json:"type"`
	Payload        json.RawMessage `json:"payload"`
}

// check validates j's envelope (not its payload, which the worker checks in
// the organization's transaction).
func (j *Job) check() error {
	org, ok := parseUUID(j.OrgID)
	if !ok {
		return errors.New("org_id is not a UUID")
	}
	j.OrgID = org
	if strings.TrimSpace(j.IdempotencyKey) == "" || len(j.IdempotencyKey) > 200 {
		return errors.New("idempotency_key must be 1 to 200 characters")
	}
	switch j.Type {
	case JobCreateDealTask, JobContactScore:
	default:
		return fmt.Errorf("unknown job type %q", j.Type)
	}
	if len(j.Payload) == 0 || !json.Valid(j.Payload) {
		return errors.New("payload is not JSON")
	}
	return nil
}

// Enqueue adds j to stream and returns the entry id.
func Enqueue(ctx context.Context, rdb redis.Cmdable, stream string, j Job) (string, error) {
	if err := j.check(); err != nil {
		return "", fmt.Errorf("enqueue: %w", err)
	}
	id, err := rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: stream, MaxLen: maxStreamLen, Approx: true,
		Values: []string{fieldOrg, j.OrgID, fieldKey, j.IdempotencyKey, fieldType, j.Type, fieldPayload, string(j.Payload)},
	}).Result()
	if err != nil {
		return "", fmt.Errorf("enqueue: xadd %s: %w", stream, err)
	}
	return id, nil
}

// jobFromMessage reads a stream entry.
func jobFromMessage(m redis.XMessage) (Job, error) {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	j := Job{OrgID: str(fieldOrg), IdempotencyKey: str(fieldKey), Type: str(fieldType), Payload: json.RawMessage(str(fieldPayload))}
	return j, j.check()
}

// submitJob answers POST /api/jobs: the body is a Job, the organization
// comes from the header, and the answer is 202 with the stream entry id.
func (s *Server) submitJob(w http.ResponseWriter, r *http.Request) {
	org, err := orgOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	noteOrg(r, org)
	var j Job
	if err := decodeBody(w, r, &j); err != nil {
		writeError(w, r, err)
		return
	}
	j.OrgID = org
	if err := j.check(); err != nil {
		writeError(w, r, errorf(http.StatusUnprocessableEntity, "invalid", "%s", err.Error()))
		return
	}
	b, release := s.pools.acquire()
	defer release()
	id, err := Enqueue(r.Context(), b.rdb, s.stream, j)
	if err != nil {
		noteError(r, err)
		writeError(w, r, errorf(http.StatusServiceUnavailable, "unavailable", "the queue is unavailable"))
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
}

// permanentError is a job failure that retrying cannot fix (bad payload, a
// row that does not exist, a constraint); the worker records it as the job's
// result and acknowledges the message.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func permanent(format string, args ...any) error {
	return &permanentError{msg: fmt.Sprintf(format, args...)}
}

// runJob applies j's effect in tx (already scoped to j's organization) and
// returns its result.
func runJob(ctx context.Context, tx querier, j Job) (any, error) {
	switch j.Type {
	case JobCreateDealTask:
		var p struct {
			DealID string `json:"deal_id"`
			Title  string `json:"title"`
		}
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			return nil, permanent("payload: %v", err)
		}
		deal, ok := parseUUID(p.DealID)
		if !ok {
			return nil, permanent("payload: deal_id is not a UUID")
		}
		if strings.TrimSpace(p.Title) == "" {
			p.Title = "Follow up"
		}
		var taskID string
		err := tx.QueryRow(ctx, `INSERT INTO tasks (org_id, title, deal_id, contact_id)
			SELECT org_id, $2, id, contact_id FROM deals WHERE id = $1
			RETURNING id::text`, deal, p.Title).Scan(&taskID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, permanent("deal %s not found in the organization", deal)
		}
		if err != nil {
			return nil, err
		}
		return map[string]string{"task_id": taskID}, nil
	case JobContactScore:
		var p struct {
			ContactID string `json:"contact_id"`
		}
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			return nil, permanent("payload: %v", err)
		}
		contact, ok := parseUUID(p.ContactID)
		if !ok {
			return nil, permanent("payload: contact_id is not a UUID")
		}
		var found bool
		var deals int64
		var score string
		// Score: 10 per open deal, 50 per signed deal, plus 1 per 1000 of
		// signed value.
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM contacts WHERE id = $1),
			count(d.id),
			(coalesce(sum(CASE WHEN d.stage = 'signed' THEN 50 ELSE 10 END), 0)
			 + coalesce(floor(sum(d.value) FILTER (WHERE d.stage = 'signed') / 1000), 0))::text
			FROM deals d WHERE d.contact_id = $1`, contact).Scan(&found, &deals, &score)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, permanent("contact %s not found in the organization", contact)
		}
		return map[string]any{"score": json.Number(score), "deals": deals}, nil
	}
	return nil, permanent("unknown job type %q", j.Type)
}
