from django.db import migrations


def create_levels(apps, schema_editor):
    from himitsu.catalog import load

    Level = apps.get_model("register", "ClassificationLevel")
    for item in load("classification_levels.yaml")["levels"]:
        Level.objects.get_or_create(code=item["code"], defaults={
            k: item[k] for k in ("rank", "name", "name_en", "handling_rules", "handling_rules_en")
        })


class Migration(migrations.Migration):
    dependencies = [("register", "0001_initial")]
    operations = [migrations.RunPython(create_levels, migrations.RunPython.noop)]
