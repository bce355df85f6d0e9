-- Foundation: the helpers every later migration relies on, organizations and
-- their users.
--
-- Row-level security everywhere is keyed by the session setting
-- app.current_org, which the application sets to the organization's UUID
-- (set_config('app.current_org', $1, true) per transaction). Unset or empty
-- means "no organization": app_current_org() is then NULL, and a policy
-- comparing org_id to NULL matches no row.

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION app_current_org() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT nullif(current_setting('app.current_org', true), '')::uuid
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION app_current_org() IS
    'Organization of the current session (setting app.current_org); NULL when unset or empty.';

-- set_timestamps keeps created_at and updated_at honest: created_at is fixed
-- at insert time (an explicit value is kept, for imports) and never changes
-- afterwards; updated_at is the time of the last change.
-- +goose StatementBegin
CREATE FUNCTION set_timestamps() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.created_at := coalesce(NEW.created_at, now());
        NEW.updated_at := greatest(coalesce(NEW.updated_at, NEW.created_at), NEW.created_at);
    ELSE
        NEW.created_at := OLD.created_at;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TABLE organizations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (btrim(name) <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER organizations_timestamps BEFORE INSERT OR UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION set_timestamps();

CREATE TABLE users (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
    email      text NOT NULL CHECK (email LIKE '%_@_%'),
    full_name  text NOT NULL DEFAULT '',
    is_admin   boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Target of the composite foreign keys that keep references inside one
    -- organization.
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX users_org_email ON users (org_id, lower(email));
CREATE TRIGGER users_timestamps BEFORE INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_timestamps();
