"""On PostgreSQL, refuse UPDATE and DELETE on the audit trail at the database level.

TRUNCATE stays possible for the database owner (test flushes use it); the
hash chain detects any change that bypasses this trigger.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION records_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit trail is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER records_auditevent_append_only
    BEFORE UPDATE OR DELETE ON records_auditevent
    FOR EACH ROW EXECUTE FUNCTION records_auditevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS records_auditevent_append_only ON records_auditevent;
DROP FUNCTION IF EXISTS records_auditevent_append_only();
"""


def _forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def _backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("records", "0001_initial")]
    operations = [migrations.RunPython(_forwards, _backwards)]
