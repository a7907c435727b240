"""The chain head may move forward but never be deleted (SQLite and PostgreSQL triggers)."""

from django.db import migrations

SQLITE = ["""CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_audithead
             BEGIN SELECT RAISE(ABORT, 'the audit chain head cannot be deleted'); END""",
          """CREATE TRIGGER IF NOT EXISTS audit_head_forward_only BEFORE UPDATE ON audit_audithead
             WHEN NEW.seq < OLD.seq
             BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END"""]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS audit_head_no_delete", "DROP TRIGGER IF EXISTS audit_head_forward_only"]
POSTGRES = [
    """CREATE OR REPLACE FUNCTION audit_head_guard() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN RAISE EXCEPTION 'the audit chain head cannot be deleted'; END IF;
         IF NEW.seq < OLD.seq THEN RAISE EXCEPTION 'the audit chain head only moves forward'; END IF;
         RETURN NEW;
       END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_head_guard BEFORE UPDATE OR DELETE ON audit_audithead
       FOR EACH ROW EXECUTE FUNCTION audit_head_guard()""",
    """CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_audithead
       FOR EACH STATEMENT EXECUTE FUNCTION audit_head_guard()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS audit_head_guard ON audit_audithead",
    "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_audithead",
    "DROP FUNCTION IF EXISTS audit_head_guard()",
]


def forwards(apps, schema_editor):
    for sql in POSTGRES if schema_editor.connection.vendor == "postgresql" else SQLITE:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    for sql in POSTGRES_DROP if schema_editor.connection.vendor == "postgresql" else SQLITE_DROP:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]
    operations = [migrations.RunPython(forwards, backwards)]
