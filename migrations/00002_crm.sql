-- The CRM: contacts, the deal pipeline, activities, tasks, calendar events,
-- smart-task templates and workflows.
--
-- Every table carries org_id. References between organization data are
-- composite foreign keys on (org_id, id), so a row can only point at a row of
-- its own organization: foreign-key checks are not subject to row-level
-- security, and a plain key on id alone would let one organization attach its
-- rows to another's. ON DELETE SET NULL (column) needs PostgreSQL 15.
--
-- Every index leads with org_id: row-level security adds org_id = <current
-- organization> to every query. Case-insensitive lookups use the lower(...)
-- expression indexes: query with lower(email) = lower($1).

-- +goose Up

CREATE TABLE contacts (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
    name       text NOT NULL CHECK (btrim(name) <> ''),
    email      text,
    phone      text,
    company    text,
    owner_id   uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id) ON DELETE SET NULL (owner_id)
);
CREATE INDEX contacts_org_name ON contacts (org_id, lower(name));
CREATE INDEX contacts_org_email ON contacts (org_id, lower(email));
CREATE INDEX contacts_org_company ON contacts (org_id, lower(company));
CREATE INDEX contacts_org_owner ON contacts (org_id, owner_id) WHERE owner_id IS NOT NULL;
CREATE TRIGGER contacts_timestamps BEFORE INSERT OR UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION set_timestamps();

-- The pipeline is sql → opportunity → verbal → signed. Moves in either
-- direction are allowed; stage_changed_at records the last one.
CREATE TABLE deals (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
    contact_id          uuid,
    owner_id            uuid,
    name                text NOT NULL CHECK (btrim(name) <> ''),
    value               numeric NOT NULL DEFAULT 0 CHECK (value >= 0),
    stage               text NOT NULL DEFAULT 'sql'
                        CHECK (stage IN ('sql', 'opportunity', 'verbal', 'signed')),
    stage_changed_at    timestamptz NOT NULL DEFAULT now(),
    expected_close_date date,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE SET NULL (contact_id),
    FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id) ON DELETE SET NULL (owner_id)
);
CREATE INDEX deals_org_stage ON deals (org_id, stage, stage_changed_at DESC);
CREATE INDEX deals_org_contact ON deals (org_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX deals_org_owner ON deals (org_id, owner_id) WHERE owner_id IS NOT NULL;
CREATE INDEX deals_org_name ON deals (org_id, lower(name));
CREATE TRIGGER deals_timestamps BEFORE INSERT OR UPDATE ON deals
    FOR EACH ROW EXECUTE FUNCTION set_timestamps();

-- +goose StatementBegin
CREATE FUNCTION deals_stage_changed_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.stage_changed_at := now();
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER deals_stage_changed_at BEFORE UPDATE OF stage ON deals
    FOR EACH ROW WHEN (OLD.stage IS DISTINCT FROM NEW.stage)
    EXECUTE FUNCTION deals_stage_changed_at();

CREATE TABLE activities (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
    type        text NOT NULL CHECK (type IN ('call', 'email', 'meeting', 'proposal')),
    subject     text NOT NULL DEFAULT '',
    notes       text,
    contact_id  uuid,
    deal_id     uuid,
    user_id     uuid,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE SET NULL (contact_id),
    FOREIGN KEY (org_id, deal_id) REFERENCES deals (org_id, id) ON DELETE SET NULL (deal_id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE SET NULL (user_id)
);
CREATE INDEX activities_org_occurred ON activities (org_id, occurred_at DESC);
CREATE INDEX activities_org_deal ON activities (org_id, deal_id, occurred_at DESC) WHERE deal_id IS NOT NULL;
CREATE INDEX activities_org_contact ON activities (org_id, contact_id, occurred_at DESC) WHERE contact_id IS NOT NULL;
CREATE INDEX activities_org_user ON activities (org_id, user_id, occurred_at DESC) WHERE user_id IS NOT NULL;
CREATE TRIGGER activities_timestamps BEFORE INSERT OR UPDATE ON activities
    FOR EACH ROW EXECUTE FUNCTION set_timestamps();

-- A smart-task template is a rule: when trigger_event happens with
-- trigger_value (a deal entering that stage, or an activity of that type being
-- logged), a task is created from the template in the same organization.
CREATE TABLE smart_task_templates (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
    name             text NOT NULL CHECK (btrim(name) <> ''),
    trigger_event    text NOT NULL CHECK (trigger_event IN ('deal_stage_changed', 'activity_created')),
    trigger_value    text NOT NULL,
    task_title       text NOT NULL CHECK (btrim(task_title) <> ''),
    task_description text,
    due_in_days      integer NOT NULL DEFAULT 0 CHECK (due_in_days BETWEEN 0 AND 3650),
    enabled          boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    CHECK (
        (trigger_event = 'deal_stage_changed' AND trigger_value IN ('sql', 'opportunity', 'verbal', 'signed'))
        OR (trigger_event = 'activity_created' AND trigger_value IN ('call', 'email', 'meeting', 'proposal'))
    )
);
CREATE INDEX smart_task_templates_rule ON smart_task_templates (org_id, trigger_event, trigger_value)
    WHERE enabled;
CREATE TRIGGER smart_task_templates_timestamps BEFORE INSERT OR UPDATE ON smart_task_templates
    FOR EACH ROW EXECUTE FUNCTION set_timestamps();

CREATE TABLE tasks (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
    title        text NOT NULL CHECK (btrim(title) <> ''),
    description  text,
    status       text NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'in_progress', 'done', 'cancelled')),
    due_at       timestamptz,
    completed_at timestamptz,
    assignee_id  uuid,
    contact_id   uuid,
    deal_id      uuid,
    activity_id  uuid,
    template_id  uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, assignee_id) REFERENCES users (org_id, id) ON DELETE SET NULL (assignee_id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE SET NULL (contact_id),
    FOREIGN KEY (org_id, deal_id) REFERENCES deals (org_id, id) ON DELETE SET NULL (deal_id),
    FOREIGN KEY (org_id, activity_id) REFERENCES activities (org_id, id) ON DELETE SET NULL (activity_id),
    FOREIGN KEY (org_id, template_id) REFERENCES smart_task_templates (org_id, id) ON DELETE SET NULL (template_id)
);
CREATE INDEX tasks_org_status_due ON tasks (org_id, status, due_at);
CREATE INDEX tasks_org_assignee ON tasks (org_id, assignee_id, status) WHERE assignee_id IS NOT NULL;
CREATE INDEX tasks_org_deal ON tasks (org_id, deal_id) WHERE deal_id IS NOT NULL;
CREATE INDEX tasks_org_contact ON tasks (org_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE TRIGGER tasks_timestamps BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION set_timestamps();

-- completed_at follows status: set when a task becomes done, cleared when it
-- is reopened.
-- +goose StatementBegin
CREATE FUNCTION tasks_completed_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.status = 'done' THEN
        IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'done' THEN
            NEW.completed_at := coalesce(NEW.completed_at, now());
        END IF;
    ELSE
        NEW.completed_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER tasks_completed_at BEFORE INSERT OR UPDATE OF status ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_completed_at();

-- Events synchronised from Google Calendar carry its event id in external_id.
CREATE TABLE calendar_events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
    user_id     uuid,
    title       text NOT NULL DEFAULT '',
    description text,
    location    text,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    all_day     boolean NOT NULL DEFAULT false,
    external_id text,
    contact_id  uuid,
    deal_id     uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    CHECK (ends_at >= starts_at),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE SET NULL (contact_id),
    FOREIGN KEY (org_id, deal_id) REFERENCES deals (org_id, id) ON DELETE SET NULL (deal_id)
);
CREATE INDEX calendar_events_org_starts ON calendar_events (org_id, starts_at);
CREATE INDEX calendar_events_org_user_starts ON calendar_events (org_id, user_id, starts_at)
    WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX calendar_events_org_external ON calendar_events (org_id, external_id)
    WHERE external_id IS NOT NULL;
CREATE TRIGGER calendar_events_timestamps BEFORE INSERT OR UPDATE ON calendar_events
    FOR EACH ROW EXECUTE FUNCTION set_timestamps();

-- A workflow is a user-defined automation; its steps live in definition,
-- which the application interprets.
CREATE TABLE workflows (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
    name          text NOT NULL CHECK (btrim(name) <> ''),
    description   text,
    trigger_event text,
    definition    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(definition) = 'object'),
    enabled       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX workflows_org_name ON workflows (org_id, lower(name));
CREATE INDEX workflows_org_trigger ON workflows (org_id, trigger_event) WHERE enabled;
CREATE TRIGGER workflows_timestamps BEFORE INSERT OR UPDATE ON workflows
    FOR EACH ROW EXECUTE FUNCTION set_timestamps();
