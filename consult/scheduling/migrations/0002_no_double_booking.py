"""On PostgreSQL, make double-booking impossible in the database itself.

An exclusion constraint over (practitioner, [starts_at, ends_at)) of active
participants refuses the loser of any race. btree_gist lets the integer
practitioner id share the GiST index with the range.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE scheduling_appointmentparticipant
    ADD CONSTRAINT participant_no_overlap
    EXCLUDE USING gist (
        practitioner_id WITH =,
        tstzrange(starts_at, ends_at, '[)') WITH &&
    ) WHERE (active);
"""
DROP = "ALTER TABLE scheduling_appointmentparticipant DROP CONSTRAINT IF EXISTS participant_no_overlap;"


def _forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def _backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]
    operations = [migrations.RunPython(_forwards, _backwards)]
