"""Load the fictional demo company (catalog/demo_company.yaml) so that a newcomer sees a living register.

Register entries go through the same path as the import and the API (``resolve.form_data`` ->
``SecretForm`` -> ``services.save``), so every entry is validated, scored, given a hash-linked
revision and an audit record exactly like one typed in by hand. Review dates are written in the
data as offsets from today, so the demo shows overdue reviews whenever it is loaded.

Then the demo's file share (catalog/demo_share.yaml, issue 5): documents registered for a few entries, a folder
written under HIMITSU_HOME, defined as a scan target, scanned once through the scan services, and a few findings
triaged — so that the findings pages have content.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import zlib
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from himitsu.catalog import checklist as cl
from himitsu.catalog import load
from himitsu.web.accounts import access
from himitsu.web.accounts.models import AccessGroup, Department, PersonType, Role, SideJobNotice, User
from himitsu.web.core import demo_activity
from himitsu.web.register import resolve, services
from himitsu.web.register.forms import SecretForm
from himitsu.web.register.models import EvidenceAnswer, Secret

DATA_FILE = "demo_company.yaml"
SHARE_FILE = "demo_share.yaml"
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


# --- the demo's file share (issue 5) -------------------------------------------------------------------------------

def share_data() -> dict[str, Any]:
    """The demo's file share as written in the catalogue (shared, cached: do not modify)."""
    return load(SHARE_FILE)


def share_folder() -> Path:
    """Where the demo writes its file share: HIMITSU_HOME/demo-share."""
    from himitsu import config

    return config.home() / share_data()["folder"]


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


def _zipcrypto(data: bytes, password: bytes, check: int, header: bytes) -> bytes:
    """``data`` encrypted with the traditional PKWARE cipher (what ``zip -P`` writes): the 12-byte header
    (11 bytes of ``header`` and the CRC's high byte) followed by the data."""
    table = _crc_table()
    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(byte: int) -> None:
        keys[0] = (keys[0] >> 8) ^ table[(keys[0] ^ byte) & 0xFF]
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = (keys[2] >> 8) ^ table[(keys[2] ^ (keys[1] >> 24)) & 0xFF]

    for byte in password:
        update(byte)
    out = bytearray()
    for byte in header[:11] + bytes([check]) + data:
        temp = (keys[2] | 2) & 0xFFFF
        out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
        update(byte)
    return bytes(out)


def encrypted_zip(members: dict[str, bytes], password: str) -> bytes:
    """A password-protected ZIP (stored members, traditional PKWARE encryption, UTF-8 names): Python's zipfile
    reads such archives but cannot write them. The random header is derived from the member, so the same input
    gives the same bytes."""
    local, central = bytearray(), bytearray()
    flags, method, dos_time, dos_date = 0x0001 | 0x0800, 0, 0, (2026 - 1980) << 9 | 4 << 5 | 1
    for name, data in members.items():
        raw_name = name.encode("utf-8")
        crc = zlib.crc32(data)
        header = hashlib.sha256(raw_name + data).digest()
        body = _zipcrypto(data, password.encode("utf-8"), crc >> 24, header)
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, dos_time, dos_date, crc, len(body),
                             len(data), len(raw_name), 0) + raw_name + body
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, dos_time, dos_date, crc,
                               len(body), len(data), len(raw_name), 0, 0, 0, 0, 0o100640 << 16, offset) + raw_name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(local), 0)
    return bytes(local + central + end)


def _file_bytes(spec: dict[str, Any], docs: dict[str, dict[str, Any]]) -> bytes:
    if "document" in spec:
        return docs[spec["document"]]["text"].encode("utf-8")
    if "zip" in spec:
        members = {name: text.encode("utf-8") for name, text in spec["zip"]["members"].items()}
        return encrypted_zip(members, spec["zip"]["password"])
    return spec["text"].encode(spec.get("encoding", "utf-8"))


def _write_share(data: dict[str, Any]) -> Path:
    """Write the share's folders and files with their modes (folders 0755, so that a file's own mode decides
    whether everyone can read it). A folder left by an earlier demo (it holds the marker file) is replaced;
    any other folder of that name is refused rather than overwritten."""
    root = share_folder()
    if root.exists():
        if not (root / data["marker"]).is_file():
            raise RuntimeError(f"{root} exists and is not the demo's file share: move it away to load the demo")
        shutil.rmtree(root)
    docs = data["documents"]
    files = {root / spec["path"]: spec for spec in data["files"]}
    leaves = [*(root / d["allowed"] / "-" for d in docs.values()), *files]
    folders = {root} | {parent for path in leaves for parent in path.parents if root in parent.parents}
    for folder in sorted(folders, key=lambda p: len(p.parts)):
        folder.mkdir(exist_ok=True)
        folder.chmod(0o755)
    for path, spec in files.items():
        path.write_bytes(_file_bytes(spec, docs))
        path.chmod(int(str(spec["mode"]), 8))
    return root


def _file_share(users: dict[str, User], today: date) -> dict[str, Any]:
    """Register the share's documents, write the share, add its folders to the entries as allowed storage
    locations, define it as a scan target, scan it once and triage a few findings — all through the services."""
    from himitsu.web.register.documents import add_documents
    from himitsu.web.scans import services as scans
    from himitsu.web.scans.models import RunStatus, ScanFinding, ScanTarget, Trigger

    data = share_data()
    ctx = services.Context(actor=users[data["actor"]], channel=CHANNEL)
    entries = {e["management_number"]: e for e in demo_data()["secrets"]}
    secrets = {s.management_number: s for s in Secret.objects.filter(
        management_number__in=[d["secret"] for d in data["documents"].values()])}
    root = _write_share(data)
    for doc in data["documents"].values():
        add_documents(ctx, secrets[doc["secret"]], [(doc["name"], doc["text"].encode("utf-8"))])

    # The register's locations are the company's UNC paths (\\fs01\...), which never match a folder on this
    # server: for the demo, the share's folder standing for each one is added as an allowed location of kind path
    # (a new revision of the entry, as an edit in the app would make).
    for doc in data["documents"].values():
        entry = entries[doc["secret"]]
        row = secret_row({**entry, "locations": [*entry.get("locations", []), f"{root / doc['allowed']}/"]}, today)
        fd = resolve.form_data(row)
        form = SecretForm(fd.values, instance=secrets[doc["secret"]], actor=ctx.actor, unresolved=fd.unresolved)
        if not form.is_valid():
            raise RuntimeError(f"demo share: {doc['secret']} is invalid: {form.errors.get_json_data()}")
        services.save(ctx, form)

    spec = data["target"]
    target = scans.create_target(ctx, name=spec["name"], url=str(root), interval_hours=int(spec["interval_hours"]))
    run = scans.run_target(ctx, ScanTarget.objects.get(pk=target.pk), trigger=Trigger.CLI)
    if run.status != RunStatus.FINISHED:
        raise RuntimeError(f"demo share: the scan ended {run.status} ({run.error_code} {run.error_params})")

    for decision in data.get("triage", []):
        rows = ScanFinding.objects.filter(target=target, path=str(root / decision["path"]), kind=decision["kind"])
        if decision.get("detector"):
            rows = rows.filter(detector=decision["detector"])
        found = list(rows)
        if len(found) != 1:
            raise RuntimeError(f"demo share: {len(found)} findings to triage for {decision}")
        by = services.Context(actor=users[decision["by"]], channel=CHANNEL)
        scans.set_status(by, found[0], decision["status"], decision["comment"])
    return {"documents": len(data["documents"]), "files": len(data["files"]), "target": target.pk,
            "findings": ScanFinding.objects.filter(target=target).count()}


def load_demo(password: str, *, progress: Callable[[int, int], Any] | None = None) -> dict[str, Any]:
    """Create the demo company in an empty register; every demo user gets ``password``.

    Returns ``{"loaded": False, "reason": "not_empty"}`` if any register entry exists, and
    ``{"loaded": False, "reason": "conflict", "conflicts": [...]}`` if a department, user or group
    of the demo already exists; nothing is changed then. Raises RuntimeError if the demo data
    itself is invalid (a bug in demo_company.yaml or demo_share.yaml), or if HIMITSU_HOME/demo-share exists
    but was not written by an earlier demo; the database is left unchanged then.

    After the company, its file share (``_file_share``): registered documents, the folder
    HIMITSU_HOME/demo-share, a scan target of it scanned once, a few findings triaged; summed up
    under ``share`` in the result.
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
        share = _file_share(users, today)

    # six weeks of the people's activity logs, scored (its own store: after the company is committed)
    from himitsu import config

    insider = demo_activity.load(list(users.values()), today, config.home(), domain)
    logins = [users[name] for name in data.get("logins", []) if name in users]
    return {
        "loaded": True,
        "departments": len(departments),
        "users": len(users),
        "groups": len(data["groups"]),
        "secrets": total,
        "share": share,
        "insider": insider,
        "logins": [{"username": u.username, "role": str(u.role), "display_name": u.display_name} for u in logins],
    }
