-- Smart tasks: a template's rule creates a task when its event happens.
--
--   deal_stage_changed / <stage>  a deal enters <stage>: it is created in it,
--                                 or its stage is changed to it
--   activity_created / <type>     an activity of <type> is logged
--
-- The task is created in the event's organization, from that organization's
-- enabled templates only (the org_id condition holds even for a session that
-- bypasses row-level security). It is linked to the deal, contact and
-- activity of the event and assigned to the deal's owner or the activity's
-- user; due_at is now plus the template's due_in_days.
--
-- The functions run with the privileges of the session that caused the
-- event, so the application role needs INSERT on tasks (it has it).

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION smart_tasks_for_deal() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO tasks (org_id, title, description, due_at, assignee_id, contact_id, deal_id, template_id)
    SELECT NEW.org_id, t.task_title, t.task_description, now() + make_interval(days => t.due_in_days),
           NEW.owner_id, NEW.contact_id, NEW.id, t.id
      FROM smart_task_templates t
     WHERE t.org_id = NEW.org_id
       AND t.enabled
       AND t.trigger_event = 'deal_stage_changed'
       AND t.trigger_value = NEW.stage;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER deals_smart_tasks_insert AFTER INSERT ON deals
    FOR EACH ROW EXECUTE FUNCTION smart_tasks_for_deal();
CREATE TRIGGER deals_smart_tasks_update AFTER UPDATE OF stage ON deals
    FOR EACH ROW WHEN (OLD.stage IS DISTINCT FROM NEW.stage)
    EXECUTE FUNCTION smart_tasks_for_deal();

-- +goose StatementBegin
CREATE FUNCTION smart_tasks_for_activity() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO tasks (org_id, title, description, due_at, assignee_id, contact_id, deal_id, activity_id,
                       template_id)
    SELECT NEW.org_id, t.task_title, t.task_description, now() + make_interval(days => t.due_in_days),
           NEW.user_id, NEW.contact_id, NEW.deal_id, NEW.id, t.id
      FROM smart_task_templates t
     WHERE t.org_id = NEW.org_id
       AND t.enabled
       AND t.trigger_event = 'activity_created'
       AND t.trigger_value = NEW.type;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER activities_smart_tasks AFTER INSERT ON activities
    FOR EACH ROW EXECUTE FUNCTION smart_tasks_for_activity();
