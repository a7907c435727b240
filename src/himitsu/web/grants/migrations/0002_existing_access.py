"""A grant for every membership that existed before grants were kept (reason "existing access")."""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    Secret = apps.get_model("register", "Secret")
    Grant = apps.get_model("grants", "Grant")
    now = timezone.now()
    rows = []
    for secret in Secret.objects.all().iterator():
        for user_id in secret.allowed_users.values_list("pk", flat=True):
            rows.append(Grant(secret_id=secret.pk, user_id=user_id, reason="existing access", source="migration",
                              granted_by_name="migration", granted_at=now))
        for group_id in secret.allowed_groups.values_list("pk", flat=True):
            rows.append(Grant(secret_id=secret.pk, group_id=group_id, reason="existing access", source="migration",
                              granted_by_name="migration", granted_at=now))
    Grant.objects.bulk_create(rows, batch_size=500)


def backwards(apps, schema_editor):
    apps.get_model("grants", "Grant").objects.filter(source="migration").delete()


class Migration(migrations.Migration):
    dependencies = [("grants", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
