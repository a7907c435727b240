"""Every training change goes through here: courses, completions, due dates, overdue lists and reminders.

Due dates are derived, never stored: a person who must take a course and never completed it is due
``new_person_days`` after they joined (or after the course was created, if that is later); after a completion
the course is due again ``validity_months`` later (never, if the course has no validity).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from himitsu.errors import InputError, PermissionDeniedError
from himitsu.web.accounts import access
from himitsu.web.accounts.models import User
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.notices.services import SendResult
from himitsu.web.register.services import Context
from himitsu.web.training.models import Audience, Completion, Course


def today() -> date:
    return timezone.localdate()


def add_months(d: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when that day does not exist: 1/31 + 1 = 2/28)."""
    index = d.month - 1 + months
    year, month = d.year + index // 12, index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def has_left(person: Any, on: date | None = None) -> bool:
    on = on or today()
    return not person.is_active or (person.left_on is not None and person.left_on < on)


def applies(course: Course, person: Any, department_ids: set[int] | None = None) -> bool:
    """Whether ``person`` must take ``course``."""
    if course.audience == Audience.ALL:
        return True
    if course.audience == Audience.PERSON_TYPES:
        return person.person_type in (course.person_types or [])
    ids = department_ids if department_ids is not None else set(course.departments.values_list("pk", flat=True))
    return person.department_id in ids


def due_date(course: Course, person: Any, last: date | None) -> date | None:
    """When ``person`` must (next) complete ``course``; None when they never must again."""
    if last is not None:
        return add_months(last, course.validity_months) if course.validity_months else None
    start = timezone.localdate(course.created_at) if course.created_at else today()
    if person.joined_on and person.joined_on > start:
        start = person.joined_on
    return start + timedelta(days=course.new_person_days)


@dataclass
class Row:
    person: Any
    course: Course
    last: date | None
    due: date | None
    on: date

    @property
    def overdue(self) -> bool:
        return self.due is not None and self.due < self.on

    @property
    def days_overdue(self) -> int:
        return (self.on - self.due).days if self.overdue and self.due else 0

    def as_dict(self) -> dict[str, Any]:
        return {"course": self.course.code, "title": self.course.title, "title_en": self.course.title_en,
                "last_completed_on": self.last.isoformat() if self.last else None,
                "due_on": self.due.isoformat() if self.due else None, "overdue": self.overdue,
                "days_overdue": self.days_overdue}


def status(people: Iterable[Any], on: date | None = None, courses: Sequence[Course] | None = None) -> list[Row]:
    """One row per (person, required active course) for people who have not left."""
    on = on or today()
    course_list = list(courses if courses is not None else Course.objects.filter(active=True))
    depts = {c.pk: set(c.departments.values_list("pk", flat=True)) for c in course_list}
    people = [p for p in people if not has_left(p, on)]
    last = {(p, c): d for p, c, d in Completion.objects.filter(person__in=[p.pk for p in people])
            .values("person_id", "course_id").annotate(last=Max("completed_on"))
            .values_list("person_id", "course_id", "last")}
    rows = []
    for person in people:
        for course in course_list:
            if applies(course, person, depts[course.pk]):
                done = last.get((person.pk, course.pk))
                rows.append(Row(person, course, done, due_date(course, person, done), on))
    return rows


def overdue(actor: Any, on: date | None = None) -> list[Row]:
    """The overdue rows of the people ``actor`` may see, ordered by department, person and course."""
    people = access.training_people(actor, User.objects.filter(is_active=True)).select_related("department")
    rows = [r for r in status(people, on) if r.overdue]
    return sorted(rows, key=lambda r: (r.person.department.code if r.person.department else "~",
                                       r.person.username, r.course.code))


@dataclass
class DepartmentCount:
    code: str
    name: str
    name_en: str
    people: int = 0
    overdue: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "name_en": self.name_en, "people": self.people,
                "overdue": self.overdue}


def per_department(rows: Iterable[Row]) -> list[DepartmentCount]:
    """Overdue courses and people with at least one, per department (people without one under "—")."""
    counts: dict[str, DepartmentCount] = {}
    seen: dict[str, set[int]] = {}
    for r in rows:
        dept = r.person.department
        key = dept.code if dept else ""
        c = counts.setdefault(key, DepartmentCount(key, dept.name if dept else "—",
                                                   (dept.name_en or dept.name) if dept else "—"))
        c.overdue += 1
        seen.setdefault(key, set()).add(r.person.pk)
        c.people = len(seen[key])
    return sorted(counts.values(), key=lambda c: (-c.overdue, c.code or "~"))


# --- changes ------------------------------------------------------------------------------------------------

def _audit(ctx: Context, action: str, object_type: str, pk: int, text: str, details: dict[str, Any]) -> None:
    chain.record(action, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type=object_type,
                 object_id=pk, object_repr=text[:200], details=details)


def _course_snapshot(course: Course) -> dict[str, Any]:
    return {"code": course.code, "title": course.title, "title_en": course.title_en,
            "description": course.description, "validity_months": course.validity_months,
            "new_person_days": course.new_person_days, "audience": course.audience,
            "person_types": sorted(course.person_types or []), "active": course.active,
            "departments": sorted(course.departments.values_list("code", flat=True)) if course.pk else []}


def save_course(ctx: Context, course: Course, departments: Iterable[Any] = ()) -> Course:
    """Create or update ``course`` (unsaved changes on the instance) with its departments."""
    access.require(access.can_manage_courses(ctx.actor))
    course.code = course.code.strip()
    if Course.objects.filter(code=course.code).exclude(pk=course.pk).exists():
        raise InputError("training.code_taken", course=course.code)
    departments = list(departments)
    if course.audience == Audience.PERSON_TYPES and not course.person_types:
        raise InputError("training.audience_empty", what="type of person")
    if course.audience == Audience.DEPARTMENTS and not departments:
        raise InputError("training.audience_empty", what="department")
    creating = course.pk is None
    with transaction.atomic():
        before = {} if creating else _course_snapshot(Course.objects.get(pk=course.pk))
        if course.audience != Audience.PERSON_TYPES:
            course.person_types = []
        course.save()
        course.departments.set(departments if course.audience == Audience.DEPARTMENTS else [])
        after = _course_snapshot(course)
        changed = sorted(k for k in after if before.get(k) != after[k])
        if changed:
            _audit(ctx, Action.CREATE if creating else Action.UPDATE, "training_course", course.pk, str(course),
                   {"fields": changed})
    return course


def problems(actor: Any, course: Course, people: Sequence[Any], completed_on: date,
             score: int | None = None) -> list[InputError]:
    """Every reason the completion cannot be recorded, person by person (empty: it can)."""
    found: list[InputError] = []
    if not people:
        found.append(InputError("training.nobody"))
    if score is not None and not 0 <= score <= 100:
        found.append(InputError("training.score_invalid"))
    if completed_on > today():
        found.append(InputError("training.in_future", date=completed_on.isoformat()))
    taken = set(Completion.objects.filter(course=course, completed_on=completed_on,
                                          person__in=[p.pk for p in people]).values_list("person_id", flat=True))
    for person in people:
        name = str(person)
        if has_left(person):
            found.append(InputError("training.person_left", person=name))
        elif person.joined_on and completed_on < person.joined_on:
            found.append(InputError("training.before_joined", person=name, joined=person.joined_on.isoformat(),
                                    date=completed_on.isoformat()))
        if person.pk in taken:
            found.append(InputError("training.duplicate", person=name, course=course.code,
                                    date=completed_on.isoformat()))
    return found


def record(ctx: Context, course: Course, people: Sequence[Any], completed_on: date, score: int | None = None,
           note: str = "") -> list[Completion]:
    """Record that ``people`` completed ``course`` on ``completed_on``: all of them or (on any problem) none."""
    people = list(dict.fromkeys(people))
    access.require(access.can_record_training(ctx.actor))
    if any(not access.can_record_training_for(ctx.actor, p) for p in people):
        raise PermissionDeniedError()
    found = problems(ctx.actor, course, people, completed_on, score)
    if found:
        raise found[0]
    done = []
    with transaction.atomic():
        for person in people:
            c = Completion.objects.create(person=person, course=course, completed_on=completed_on, score=score,
                                          note=note.strip()[:500], recorded_by=ctx.user,
                                          recorded_by_name=ctx.actor.get_username())
            _audit(ctx, Action.CREATE, "training_completion", c.pk,
                   f"{course.code} {person.get_username()} {completed_on.isoformat()}",
                   {"course": course.code, "person": person.get_username(), "completed_on": completed_on.isoformat(),
                    "score": score})
            done.append(c)
    return done


def visible_completions(actor: Any) -> Any:
    return Completion.objects.filter(person__in=access.training_people(actor)).select_related("person", "course")


# --- reminders ----------------------------------------------------------------------------------------------

def _line(r: Row, lang: str) -> str:
    title = r.course.localized_title(lang)
    due = r.due.isoformat() if r.due else ""
    if lang == "en":
        return f"- {r.course.code} {title}: due {due} ({r.days_overdue} days overdue)"
    return f"・{r.course.code} {title}：期限 {due}（{r.days_overdue}日超過）"


def send_overdue(rows: Sequence[Row]) -> SendResult:
    """One notice per person listing their overdue courses, and a summary to each department's managers."""
    from himitsu.web.notices.services import by_department_managers, notify

    result = SendResult()
    mine: dict[int, list[Row]] = {}
    for r in rows:
        mine.setdefault(r.person.pk, []).append(r)
    for person_rows in mine.values():
        person = person_rows[0].person
        subject = f"【教育】未受講の研修が{len(person_rows)}件あります / {len(person_rows)} overdue training course(s)"
        body = ("受講期限を過ぎた研修があります。受講してください。\n" + "\n".join(_line(r, "ja") for r in person_rows)
                + "\n\nThe following training is overdue. Please take it.\n"
                + "\n".join(_line(r, "en") for r in person_rows))
        result.add(notify([person], "training.overdue", subject, body, "/training/"))
    for dept, managers, dept_rows in by_department_managers(rows, lambda r: r.person):
        people = len({r.person.pk for r in dept_rows})
        subject = (f"【教育】{dept.name}：未受講 {len(dept_rows)}件（{people}人） / "
                   f"{dept.name_en or dept.name}: {len(dept_rows)} overdue course(s), {people} people")
        ja = "\n".join(f"{r.person}（{r.person.username}）" + _line(r, "ja") for r in dept_rows)
        en = "\n".join(f"{r.person} ({r.person.username}) " + _line(r, "en") for r in dept_rows)
        body = f"部門の未受講の研修：\n{ja}\n\nOverdue training in your department:\n{en}"
        result.add(notify(managers, "training.overdue_summary", subject, body, "/training/overdue/"))
    return result
