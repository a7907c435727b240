"""`himitsu grants expire [--json]` (the daily job) and `himitsu grants reviews [--json]`."""

from __future__ import annotations

from typing import Annotated

import typer

from himitsu.cli import runtime
from himitsu.cli.runtime import console, emit_json, guarded

app = typer.Typer(no_args_is_help=True)


@app.command("expire", help="期限切れのアクセス権を取り消す（日次）/ Revoke the grants past their expiry (daily).")
@guarded
def expire(json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    runtime.setup()
    from django.utils import timezone

    from himitsu.web.accounts.access import system_actor
    from himitsu.web.grants import services
    from himitsu.web.register.services import Context

    today = timezone.localdate()
    expired = services.expire(Context(actor=system_actor(), channel="cli"), today)
    rows = [{"id": g.pk, "secret": g.secret.management_number,
             "user": g.user.username if g.user_id else None, "group": g.group.name if g.group_id else None,
             "expires_on": g.expires_on.isoformat() if g.expires_on else None} for g in expired]
    if json_out:
        emit_json({"today": today.isoformat(), "expired": len(rows), "grants": rows})
        return
    ja = runtime.language() != "en"
    console.print(f"期限切れで取り消したアクセス権：{len(rows)}件" if ja else f"{len(rows)} expired grant(s) revoked.")
    for r in rows:
        console.print(f"  {r['secret']} {r['user'] or r['group']} ({r['expires_on']})", highlight=False)


@app.command("reviews", help="実施中のアクセスレビュー / Open access reviews and how many grants are undecided.")
@guarded
def reviews(json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    runtime.setup()
    from django.db.models import Count, Q
    from django.utils import timezone

    from himitsu.web.grants.models import Review

    today = timezone.localdate()
    qs = (Review.objects.filter(closed_at__isnull=True).select_related("department").prefetch_related("reviewers")
          .annotate(total=Count("items"), undecided=Count("items", filter=Q(items__decision="")))
          .order_by("due_on", "pk"))
    rows = [{"id": r.pk, "department": r.department.code, "period": r.period, "due_on": r.due_on.isoformat(),
             "overdue": r.due_on < today, "items": r.total, "undecided": r.undecided,
             "reviewers": [u.username for u in r.reviewers.all()]} for r in qs]
    if json_out:
        emit_json({"today": today.isoformat(), "open": len(rows), "reviews": rows})
        return
    ja = runtime.language() != "en"
    if not rows:
        console.print("実施中のアクセスレビューはありません。" if ja else "No access review is open.")
    for r in rows:
        late = (" 期限超過" if ja else " OVERDUE") if r["overdue"] else ""
        console.print(f"  #{r['id']} {r['department']} {r['period']} {r['due_on']}{late}: "
                      f"{r['undecided']}/{r['items']} ({', '.join(r['reviewers'])})", highlight=False)
