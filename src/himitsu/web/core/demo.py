"""Load the fictional demo company (catalog/demo_company.yaml) so that a newcomer sees a living register.

Register entries go through the same path as the import and the API (``resolve.form_data`` ->
``SecretForm`` -> ``services.save``), so every entry is validated, scored, given a hash-linked
revision and an audit record exactly like one typed in by hand. Review dates are written in the
data as offsets from today, so the demo shows overdue reviews whenever it is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from himitsu.catalog import checklist as cl
from himitsu.catalog import load
from himitsu.web.accounts import access
from himitsu.web.accounts.models import AccessGroup, Department, PersonType, Role, SideJobNotice, User
from himitsu.web.register import resolve, services
from himitsu.web.register.forms import SecretForm
from himitsu.web.register.models import EvidenceAnswer, Secret

DATA_FILE = "demo_company.yaml"
CHANNEL = "demo"

# Keys of a `secrets` entry that are not register fields of the same name.
_EXTRA_KEYS = {"review_in_days", "evidence"}
_SECRET_KEYS = set(SecretForm.Meta.fields) | {"locations"}


def demo_data() -> dict[str, Any]:
    """The demo company as written in the catalogue (shared, cached: do not modify)."""
    return load(DATA_FILE)


def _text(value: Any) -> str:
    """YAML 1.1 reads bare yes/no as booleans; accept them as the words they were meant to be."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else str(value)


def _date(value: Any) -> date | None:
    """A date written in the YAML (read as a date, or as text such as 2015-04-01)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _conflicts(data: dict[str, Any]) -> list[str]:
    """Names the demo would create that already exist (e.g. an `admin` made by `himitsu users add`)."""
    found: list[str] = []
    codes = [d["code"] for d in data["departments"]]
    found += [f"department:{c}" for c in Department.objects.filter(code__in=codes).values_list("code", flat=True)]
    names = [u["username"] for u in data["users"]]
    found += [f"user:{n}" for n in User.objects.filter(username__in=names).values_list("username", flat=True)]
    groups = [g["name"] for g in data["groups"]]
    found += [f"group:{n}" for n in AccessGroup.objects.filter(name__in=groups).values_list("name", flat=True)]
    return sorted(found)


def secret_row(entry: dict[str, Any], today: Any) -> dict[str, Any]:
    """One `secrets` entry as the people-readable row that ``resolve.form_data`` expects."""
    unknown = set(entry) - _SECRET_KEYS - _EXTRA_KEYS
    if unknown:
        raise RuntimeError(f"demo data {entry.get('management_number')}: unknown keys {sorted(unknown)}")
    row = {k: v for k, v in entry.items() if k not in _EXTRA_KEYS}
    for name in resolve.TRISTATE_FIELDS:
        if name in row:
            row[name] = _text(row[name])
    offset = entry.get("review_in_days")
    row["review_date"] = (today + timedelta(days=int(offset))).isoformat() if offset is not None else ""
    return row


def _evidence(entry: dict[str, Any]) -> dict[str, tuple[str, str]]:
    manual = {item["key"] for item in cl.manual_items()}
    valid = set(EvidenceAnswer.Answer.values)
    answers: dict[str, tuple[str, str]] = {}
    for item, value in (entry.get("evidence") or {}).items():
        answer, note = _text(value.get("answer")), _text(value.get("note"))
        if item not in manual or answer not in valid:
            raise RuntimeError(
                f"demo data {entry['management_number']}: bad evidence {item}={answer!r}"
                f" (items: {sorted(manual)}, answers: {sorted(valid)})")
        answers[item] = (answer, note)
    return answers


def _people_and_agreements(data: dict[str, Any], users: dict[str, User], departments: dict[str, Department],
                           today: date) -> None:
    """Training records, pledges and the leaving cases of the people with a leaving date, through the same services
    as the app (so the register's evidence scores count the pledges)."""
    from himitsu.web.pledges import services as pledges
    from himitsu.web.training import services as training
    from himitsu.web.training.models import Course
    from himitsu.web.workflows.services import open_leaving_case

    manager = next(u for u in users.values() if u.role == Role.SECRET_MANAGER)
    as_manager = services.Context(actor=manager, channel=CHANNEL)
    for spec in data.get("training", []):
        course = Course(code=spec["code"], title=spec["title"], title_en=spec.get("title_en", ""),
                        description=spec.get("description", ""), validity_months=spec.get("validity_months"),
                        new_person_days=spec.get("new_person_days", 30),
                        audience="departments" if spec.get("departments") else "all")
        course = training.save_course(as_manager, course, [departments[c] for c in spec.get("departments", [])])
        lapsed = {name: int(days) for name, days in (spec.get("lapsed") or {}).items()}
        by_day: dict[date, list[User]] = {}
        for row in training.status(users.values(), today, [course]):
            name = row.person.username
            if name in spec.get("not_taken", []):
                continue
            on = today - timedelta(days=lapsed.get(name, int(spec["completed_days_ago"])))
            if row.person.joined_on is None or row.person.joined_on <= on:
                by_day.setdefault(on, []).append(row.person)
        for on, people in sorted(by_day.items()):
            training.record(as_manager, course, people, on)
    company = data["company"]["name"]
    for spec in data.get("pledges", []):
        for name in [*spec.get("acknowledged", []), *spec.get("outstanding", [])]:
            pledge = pledges.issue(as_manager, pledges.IssueRequest(
                person=users[name], template=spec["template"], company=company, due_on=today + timedelta(days=14),
                categories=spec.get("categories", []), duration_years=spec.get("duration")))
            if name in spec.get("acknowledged", []):
                pledges.acknowledge(services.Context(actor=users[name], channel=CHANNEL), pledge)
    for person in users.values():
        if person.left_on is not None:
            open_leaving_case(as_manager, person)
            pledges.issue(as_manager, pledges.IssueRequest(
                person=person, template="leaving", company=company, due_on=person.left_on - timedelta(days=3),
                secrets=list(access.visible_secrets(person)), duration_years=3))


def load_demo(password: str, *, progress: Callable[[int, int], Any] | None = None) -> dict[str, Any]:
    """Create the demo company in an empty register; every demo user gets ``password``.

    Returns ``{"loaded": False, "reason": "not_empty"}`` if any register entry exists, and
    ``{"loaded": False, "reason": "conflict", "conflicts": [...]}`` if a department, user or group
    of the demo already exists; nothing is changed then. Raises RuntimeError if the demo data
    itself is invalid (a bug in demo_company.yaml).
    """
    if not password:
        raise ValueError("the demo users need a password")
    data = demo_data()
    entries = data["secrets"]
    total = len(entries)
    ctx = services.Context(actor=access.system_actor(), channel=CHANNEL)
    domain = data["company"].get("email_domain", "example.co.jp")

    with transaction.atomic():
        if Secret.objects.exists():
            return {"loaded": False, "reason": "not_empty"}
        conflicts = _conflicts(data)
        if conflicts:
            return {"loaded": False, "reason": "conflict", "conflicts": conflicts}

        departments = {
            d["code"]: Department.objects.create(code=d["code"], name=d["name"], name_en=d.get("name_en", ""))
            for d in data["departments"]
        }

        # One hash for all: the same password for every demo user, and Argon2 costs ~0.2 s per call.
        encoded = make_password(password)
        today = timezone.localdate()
        users: dict[str, User] = {}
        for spec in data["users"]:
            family, _, given = spec["name"].partition(" ")
            user = User(
                username=spec["username"], display_name=spec["name"], last_name=family, first_name=given,
                role=Role(spec["role"]), department=departments[spec["department"]] if spec.get("department")
                else None, email=f"{spec['username']}@{domain}", password=encoded,
                person_type=PersonType(spec.get("type", PersonType.EMPLOYEE)),
                employee_number=str(spec["number"]) if spec.get("number") else None,
                joined_on=_date(spec.get("joined")),
                left_on=today + timedelta(days=int(spec["leaves_in_days"])) if "leaves_in_days" in spec else None,
            )
            user.clean()  # a leaving date before the joining date is a bug in the demo data
            user.save()
            users[user.username] = user

        for spec in data["groups"]:
            group = AccessGroup.objects.create(name=spec["name"], description=spec.get("description", ""))
            group.members.add(*(users[name] for name in spec.get("members", [])))

        decider = next((u for u in users.values() if u.role == Role.SECRET_MANAGER), None)
        for spec in data.get("side_jobs", []):
            status = SideJobNotice.Status(spec.get("status", SideJobNotice.Status.SUBMITTED))
            decided = status != SideJobNotice.Status.SUBMITTED
            SideJobNotice.objects.create(
                person=users[spec["person"]], employer=spec["employer"], description=spec.get("description", ""),
                starts_on=today + timedelta(days=int(spec.get("starts_in_days", 0))), status=status,
                decided_by=decider if decided else None, decided_at=timezone.now() if decided else None)

        for done, entry in enumerate(entries, start=1):
            fd = resolve.form_data(secret_row(entry, today))
            form = SecretForm(fd.values, actor=ctx.actor, unresolved=fd.unresolved)
            if not form.is_valid():
                raise RuntimeError(
                    f"demo data {entry.get('management_number')} is invalid: {form.errors.get_json_data()}")
            secret = services.save(ctx, form)
            answers = _evidence(entry)
            if answers:
                services.set_evidence(ctx, secret, answers)
            if progress is not None:
                progress(done, total)

        _people_and_agreements(data, users, departments, today)

    logins = [users[name] for name in data.get("logins", []) if name in users]
    return {
        "loaded": True,
        "departments": len(departments),
        "users": len(users),
        "groups": len(data["groups"]),
        "secrets": total,
        "logins": [{"username": u.username, "role": str(u.role), "display_name": u.display_name} for u in logins],
    }
