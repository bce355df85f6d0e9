-- Row-level security: each organization sees and writes only its own rows.
--
-- Every table holding organization data gets one policy, org_isolation, for
-- all commands: rows are visible when their organization is the session's
-- (app_current_org(), from the setting app.current_org), and inserted or
-- updated rows must belong to it. With no organization set nothing is visible
-- and nothing can be written.
--
-- FORCE makes the policies apply to the tables' owner too, so the owner role
-- is not a way around them. Superusers and roles with BYPASSRLS still bypass
-- row-level security; the application must never connect as one.

-- +goose Up

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON organizations
    USING (id = app_current_org())
    WITH CHECK (id = app_current_org());

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON users
    USING (org_id = app_current_org())
    WITH CHECK (org_id = app_current_org());

ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON contacts
    USING (org_id = app_current_org())
    WITH CHECK (org_id = app_current_org());

ALTER TABLE deals ENABLE ROW LEVEL SECURITY;
ALTER TABLE deals FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON deals
    USING (org_id = app_current_org())
    WITH CHECK (org_id = app_current_org());

ALTER TABLE activities ENABLE ROW LEVEL SECURITY;
ALTER TABLE activities FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON activities
    USING (org_id = app_current_org())
    WITH CHECK (org_id = app_current_org());

ALTER TABLE smart_task_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE smart_task_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON smart_task_templates
    USING (org_id = app_current_org())
    WITH CHECK (org_id = app_current_org());

ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON tasks
    USING (org_id = app_current_org())
    WITH CHECK (org_id = app_current_org());

ALTER TABLE calendar_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE calendar_events FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON calendar_events
    USING (org_id = app_current_org())
    WITH CHECK (org_id = app_current_org());

ALTER TABLE workflows ENABLE ROW LEVEL SECURITY;
ALTER TABLE workflows FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON workflows
    USING (org_id = app_current_org())
    WITH CHECK (org_id = app_current_org());
