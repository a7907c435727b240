"""Training records: due dates, overdue per department, typed errors, pages and the permission matrix."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta

import pytest
from django.utils import timezone

from himitsu.errors import InputError, PermissionDeniedError
from himitsu.web.accounts.models import PersonType
from himitsu.web.audit.models import AuditEvent
from himitsu.web.register.services import Context
from himitsu.web.training import services
from himitsu.web.training.models import Audience, Completion, Course

ROLES = ["admin", "manager", "devlead", "alice", "auditor"]
MANAGES = {"admin", "manager"}
RECORDS = {"admin", "manager", "devlead"}
OVERVIEW = {"admin", "manager", "devlead", "auditor"}


def today() -> date:
    return timezone.localdate()


def ctx(org, who: str) -> Context:
    return Context(actor=org.users[who], channel="test")


def course(org, code="SEC-101", created_days_ago=100, **kw) -> Course:
    c = services.save_course(ctx(org, "manager"), Course(code=code, title="営業秘密の基礎",
                                                          title_en="Trade secrets 101", new_person_days=30, **kw))
    Course.objects.filter(pk=c.pk).update(created_at=timezone.now() - timedelta(days=created_days_ago))
    c.refresh_from_db()
    return c


def test_add_months_keeps_the_day_or_the_month_end():
    assert services.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert services.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert services.add_months(date(2026, 11, 15), 14) == date(2028, 1, 15)
    assert services.add_months(date(2026, 4, 1), 12) == date(2027, 4, 1)


def test_due_dates(org):
    c = course(org, validity_months=12)
    alice = org.users["alice"]
    # never completed, joined before the course existed: due N days after the course was created
    assert services.due_date(c, alice, None) == today() - timedelta(days=100) + timedelta(days=30)
    # a new person: due N days after joining
    alice.joined_on = today() - timedelta(days=10)
    alice.save()
    assert services.due_date(c, alice, None) == today() + timedelta(days=20)
    # after a completion: again after the validity
    assert services.due_date(c, alice, date(2026, 3, 31)) == date(2027, 3, 31)
    once = course(org, code="ONCE")
    assert services.due_date(once, alice, date(2026, 3, 31)) is None


def test_audience_and_retake(org):
    everyone = course(org, validity_months=12)
    dispatched = course(org, code="DISP", audience=Audience.PERSON_TYPES, person_types=[PersonType.DISPATCHED])
    sales_only = services.save_course(ctx(org, "manager"),
                                      Course(code="SALES", title="営業", audience=Audience.DEPARTMENTS), [org.sales])
    bob = org.users["bob"]
    assert services.applies(everyone, bob) and not services.applies(dispatched, bob)
    assert not services.applies(sales_only, bob) and services.applies(sales_only, org.users["saleslead"])
    bob.person_type = PersonType.DISPATCHED
    bob.save()
    assert services.applies(dispatched, bob)
    # completed 13 months ago with a 12-month validity: overdue again
    Completion.objects.create(person=bob, course=everyone, completed_on=services.add_months(today(), -13),
                              recorded_by_name="t")
    rows = {r.course.code: r for r in services.status([bob])}
    assert set(rows) == {"SEC-101", "DISP"}
    assert rows["SEC-101"].overdue and rows["SEC-101"].last == services.add_months(today(), -13)


def test_overdue_per_department(org):
    course(org)
    alice, bob = org.users["alice"], org.users["bob"]
    rows = services.overdue(org.users["manager"])
    assert {r.person.username for r in rows} == {"admin", "manager", "devlead", "saleslead", "alice", "bob",
                                                 "auditor"}
    counts = {d.code: (d.overdue, d.people) for d in services.per_department(rows)}
    assert counts == {"DEV": (3, 3), "SALES": (1, 1), "": (3, 3)}
    services.record(ctx(org, "devlead"), Course.objects.get(code="SEC-101"), [alice, bob], today())
    counts = {d.code: d.overdue for d in services.per_department(services.overdue(org.users["manager"]))}
    assert counts == {"DEV": 1, "SALES": 1, "": 3}
    # people who left are not overdue
    org.users["saleslead"].left_on = today() - timedelta(days=1)
    org.users["saleslead"].save()
    assert "SALES" not in {d.code for d in services.per_department(services.overdue(org.users["manager"]))}


def test_errors(org):
    c = course(org)
    alice, bob = org.users["alice"], org.users["bob"]
    alice.joined_on = today() - timedelta(days=5)
    alice.save()
    record = services.record
    with pytest.raises(InputError) as e:
        record(ctx(org, "manager"), c, [alice], today() - timedelta(days=6))
    assert e.value.code == "training.before_joined"
    with pytest.raises(InputError) as e:
        record(ctx(org, "manager"), c, [alice], today() + timedelta(days=1))
    assert e.value.code == "training.in_future"
    record(ctx(org, "manager"), c, [alice], today())
    with pytest.raises(InputError) as e:
        record(ctx(org, "manager"), c, [bob, alice], today())  # all or nothing: bob is not recorded either
    assert e.value.code == "training.duplicate"
    assert not Completion.objects.filter(person=bob).exists()
    bob.is_active = False
    bob.left_on = today() - timedelta(days=1)
    bob.save()
    with pytest.raises(InputError) as e:
        record(ctx(org, "manager"), c, [bob], today() - timedelta(days=3))
    assert e.value.code == "training.person_left"
    with pytest.raises(InputError) as e:
        record(ctx(org, "manager"), c, [alice], today() - timedelta(days=1), score=101)
    assert e.value.code == "training.score_invalid"
    with pytest.raises(InputError) as e:
        services.save_course(ctx(org, "manager"), Course(code="SEC-101", title="x"))
    assert e.value.code == "training.code_taken"
    with pytest.raises(InputError) as e:
        services.save_course(ctx(org, "manager"), Course(code="X", title="x", audience=Audience.DEPARTMENTS))
    assert e.value.code == "training.audience_empty"
    codes = [p.code for p in services.problems(org.users["manager"], c, [alice, bob], today())]
    assert codes == ["training.duplicate", "training.person_left"]


def test_changes_are_audited(org):
    c = course(org)
    services.record(ctx(org, "devlead"), c, [org.users["alice"]], today(), score=90, note="e-learning")
    c.title = "営業秘密の基礎（改訂）"
    services.save_course(ctx(org, "manager"), c)
    events = list(AuditEvent.objects.filter(object_type__in=["training_course", "training_completion"])
                  .order_by("seq").values_list("action", "object_type", "details"))
    assert [(a, t) for a, t, _ in events] == [("create", "training_course"), ("create", "training_completion"),
                                              ("update", "training_course")]
    assert events[1][2]["person"] == "alice" and events[2][2]["fields"] == ["title"]


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(org, login, role):
    c = course(org)
    client = login(role)
    assert client.get("/training/").status_code == 200
    assert client.get("/training/courses/").status_code == 200
    assert client.get("/training/courses/new/").status_code == (200 if role in MANAGES else 403)
    assert client.get(f"/training/courses/{c.pk}/edit/").status_code == (200 if role in MANAGES else 403)
    assert client.get("/training/record/").status_code == (200 if role in RECORDS else 403)
    assert client.get("/training/overdue/").status_code == (200 if role in OVERVIEW else 403)
    # recording for a person of DEV and of SALES
    alice, sales = org.users["alice"], org.users["saleslead"]
    for person, allowed in ((alice, role in RECORDS), (sales, role in MANAGES)):
        if allowed:
            services.record(ctx(org, role), c, [person], today())
        else:
            with pytest.raises(PermissionDeniedError):
                services.record(ctx(org, role), c, [person], today())
    with pytest.raises(PermissionDeniedError) if role not in MANAGES else contextlib.nullcontext():
        services.save_course(ctx(org, role), Course(code=f"C-{role}", title="t"))
    seen = set(services.access.training_people(org.users[role]).values_list("username", flat=True))
    expected = {"admin": None, "manager": None, "auditor": None, "devlead": {"devlead", "alice", "bob"},
                "alice": {"alice"}}[role]
    if expected is None:
        assert len(seen) == 7
    else:
        assert seen == expected
    overdue_people = {r.person.username for r in services.overdue(org.users[role])}
    assert overdue_people <= seen


def test_pages(org, login):
    client = login("manager")
    page = client.post("/training/courses/new/", {"code": "SEC-201", "title": "営業秘密の実務", "title_en": "Practice",
                                                   "new_person_days": "14", "validity_months": "12",
                                                   "audience": "departments", "departments": [org.dev.pk],
                                                   "active": "on"})
    assert page.status_code == 302, page.content.decode()[:2000]
    c = Course.objects.get(code="SEC-201")
    assert list(c.departments.all()) == [org.dev]
    Course.objects.filter(pk=c.pk).update(created_at=timezone.now() - timedelta(days=60))
    page = client.get("/training/overdue/")
    html = page.content.decode()
    assert page.status_code == 200 and "開発部" in html and "gauge-fill" in html and "SEC-201" in html
    client = login("devlead")
    page = client.post("/training/record/", {"course": c.pk, "people": [org.users["alice"].pk, org.users["bob"].pk],
                                             "completed_on": today().isoformat(), "score": "80", "note": "集合研修"})
    assert page.status_code == 302
    assert Completion.objects.filter(course=c).count() == 2
    page = client.post("/training/record/", {"course": c.pk, "people": [org.users["alice"].pk],
                                             "completed_on": today().isoformat()})
    assert page.status_code == 400 and "SEC-201" in page.content.decode()
    # a department manager cannot pick a person of another department
    page = client.post("/training/record/", {"course": c.pk, "people": [org.users["saleslead"].pk],
                                             "completed_on": today().isoformat()})
    assert page.status_code == 400 and not Completion.objects.filter(person=org.users["saleslead"]).exists()
    page = login("alice").get("/training/")
    assert page.status_code == 200 and "SEC-201" in page.content.decode()
    assert "研修" in page.content.decode()  # the menu and the page, in Japanese
