-- Idempotency for the worker: a job's effect is recorded under its
-- organization and idempotency key in the same transaction as the effect, so
-- a job delivered twice is applied once (INSERT … ON CONFLICT DO NOTHING, then
-- act only when a row was inserted).

-- +goose Up

CREATE TABLE processed_jobs (
    org_id          uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
    idempotency_key text NOT NULL CHECK (idempotency_key <> ''),
    result          jsonb,
    processed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, idempotency_key)
);
-- For pruning old records.
CREATE INDEX processed_jobs_processed_at ON processed_jobs (processed_at);

ALTER TABLE processed_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE processed_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON processed_jobs
    USING (org_id = app_current_org())
    WITH CHECK (org_id = app_current_org());
