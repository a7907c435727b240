"""`himitsu grants expire [--json]` and `himitsu grants reviews [--json]`."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone
from typer.testing import CliRunner

from himitsu.cli import app
from himitsu.web.accounts import access
from himitsu.web.audit.models import AuditEvent
from himitsu.web.grants import services
from himitsu.web.grants.models import Grant
from himitsu.web.register.services import Context

runner = CliRunner()


def test_expire(org):
    bob = org.users["bob"]
    today = timezone.localdate()
    g = services.grant(Context(actor=org.users["manager"], channel="test"), org.recipe, user=bob, reason="x",
                       expires_on=today + timedelta(days=1))
    result = runner.invoke(app, ["grants", "expire", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["expired"] == 0
    Grant.objects.filter(pk=g.pk).update(expires_on=today - timedelta(days=1))
    result = runner.invoke(app, ["grants", "expire", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["expired"] == 1 and data["grants"][0]["user"] == "bob" and data["grants"][0]["secret"] == "DEV-001"
    assert not access.visible_secrets(bob).filter(pk=org.recipe.pk).exists()
    event = AuditEvent.objects.filter(object_type="grant", details__event="expired").get()
    assert event.channel == "cli" and event.actor_name.startswith("cli:")
    human = runner.invoke(app, ["grants", "expire"], env={"HIMITSU_LANG": "en"})
    assert human.exit_code == 0 and "0 expired grant(s)" in human.stdout


def test_reviews(org):
    result = runner.invoke(app, ["grants", "reviews"], env={"HIMITSU_LANG": "ja"})
    assert result.exit_code == 0 and "ありません" in result.stdout
    review = services.open_review(Context(actor=org.users["manager"], channel="test"), org.dev, "2026 H2",
                                  timezone.localdate())
    services.decide(Context(actor=org.users["devlead"], channel="test"), review.items.first(), "confirm")
    result = runner.invoke(app, ["grants", "reviews", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["open"] == 1
    row = data["reviews"][0]
    assert (row["department"], row["period"], row["items"], row["undecided"], row["reviewers"], row["overdue"]) == (
        "DEV", "2026 H2", 2, 1, ["devlead"], False)
    human = runner.invoke(app, ["grants", "reviews"], env={"HIMITSU_LANG": "en"})
    assert human.exit_code == 0 and "DEV 2026 H2" in human.stdout and "1/2" in human.stdout
