"""The demo company: loads through the normal register services into an empty database, once."""

from __future__ import annotations

from collections import Counter

import pytest

PASSWORD = "Demo-test-pw-2026"


@pytest.fixture
def demo(db):
    from himitsu.web.core.demo import load_demo

    calls: list[tuple[int, int]] = []
    result = load_demo(PASSWORD, progress=lambda done, total: calls.append((done, total)))
    result["progress_calls"] = calls
    return result


def _data():
    from himitsu.web.core.demo import demo_data

    return demo_data()


def test_counts(demo):
    from himitsu.web.accounts.models import AccessGroup, Department, Role, User
    from himitsu.web.register.models import Secret

    assert demo["loaded"] is True
    assert (demo["departments"], demo["secrets"]) == (5, 20)
    assert Department.objects.count() == 5
    assert 27 <= User.objects.count() <= 33 and User.objects.count() == demo["users"]
    assert 3 <= AccessGroup.objects.count() <= 5 and AccessGroup.objects.count() == demo["groups"]
    assert Secret.objects.count() == 20

    roles = Counter(User.objects.values_list("role", flat=True))
    assert roles[Role.SYSTEM_ADMIN] == 1 and roles[Role.SECRET_MANAGER] == 1 and roles[Role.AUDITOR] == 1
    assert roles[Role.DEPT_MANAGER] == 5
    managed = set(User.objects.filter(role=Role.DEPT_MANAGER).values_list("department__code", flat=True))
    assert managed == set(Department.objects.values_list("code", flat=True))
    assert User.objects.get(username="admin").role == Role.SYSTEM_ADMIN
    assert User.objects.get(username="kanri").role == Role.SECRET_MANAGER
    assert User.objects.get(username="kansa").role == Role.AUDITOR

    assert set(Secret.objects.values_list("level__code", flat=True)) == {"gokuhi", "hi", "shagaihi"}
    categories = set(Secret.objects.values_list("category", flat=True))
    assert {"technical", "business"} <= categories
    legal = Counter(Secret.objects.values_list("legal_type", flat=True))
    assert legal["limited_data"] >= 1 and legal["other_confidential"] >= 1
    assert legal["trade_secret"] >= 15


def test_users_can_log_in_and_look_real(demo):
    from himitsu.web.accounts.models import User

    logins = demo["logins"]
    assert [x["username"] for x in logins][:2] == ["admin", "kanri"]
    assert {x["role"] for x in logins} == {"system_admin", "secret_manager", "dept_manager", "employee", "auditor"}
    admin = User.objects.get(username="admin")
    assert admin.check_password(PASSWORD) and not admin.check_password(PASSWORD + "x")
    for user in User.objects.all():
        assert user.has_usable_password() and user.is_active
        assert user.username.isascii() and " " in user.display_name
        assert user.email == f"{user.username}@example.co.jp"
        assert user.department_id is not None


def test_progress_is_reported_per_secret(demo):
    assert demo["progress_calls"] == [(i, 20) for i in range(1, 21)]


def test_status_mix(demo):
    from himitsu.web.register import services
    from himitsu.web.register.models import Secret

    stored = Counter(Secret.objects.values_list("secrecy_status", flat=True))
    assert set(stored) == {"qualifies", "at_risk", "not_qualified"}
    assert all(n >= 3 for n in stored.values()), stored
    # The stored status is what the services compute now (evidence answers were applied).
    for secret in Secret.objects.all():
        result = services.assessment(secret)
        assert (secret.secrecy_score, secret.secrecy_status) == (result.score, result.status)
        assert set(secret.evidence.values_list("item", flat=True)) == {"pledges", "rules_known", "rules_enforced"}


def test_review_dates_are_relative_to_today(demo):
    from django.utils import timezone

    from himitsu.web.register.models import Secret

    today = timezone.localdate()
    dates = [d for d in Secret.objects.values_list("review_date", flat=True) if d is not None]
    assert any(d < today for d in dates), "some reviews should be overdue"
    assert any(d > today for d in dates)
    for entry in _data()["secrets"]:
        secret = Secret.objects.get(management_number=entry["management_number"])
        if "review_in_days" in entry:
            assert (secret.review_date - today).days == entry["review_in_days"]
        else:
            assert secret.review_date is None


def test_every_secret_has_history_and_audit(demo):
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import AuditEvent
    from himitsu.web.register.models import Secret, SecretRevision

    for secret in Secret.objects.all():
        revisions = SecretRevision.objects.filter(secret=secret)
        assert revisions.filter(action="create", channel="demo").exists()
        audit = AuditEvent.objects.filter(object_type="secret", object_id=str(secret.pk))
        assert audit.filter(action="create", channel="demo").exists()
        assert secret.locations.count() == len(
            next(e for e in _data()["secrets"] if e["management_number"] == secret.management_number)
            .get("locations", []))
    assert chain.verify().ok


def test_loading_twice_changes_nothing(demo):
    from himitsu.web.accounts.models import AccessGroup, Department, User
    from himitsu.web.audit.models import AuditEvent
    from himitsu.web.core.demo import load_demo
    from himitsu.web.register.models import Secret, SecretRevision

    def counts():
        return [m.objects.count() for m in (Department, User, AccessGroup, Secret, SecretRevision, AuditEvent)]

    before = counts()
    again = load_demo(PASSWORD)
    assert again == {"loaded": False, "reason": "not_empty"}
    assert counts() == before


def test_existing_names_are_not_overwritten(db):
    from himitsu.web.accounts.models import Department, Role, User
    from himitsu.web.core.demo import load_demo
    from himitsu.web.register.models import Secret

    own = User(username="admin", role=Role.SYSTEM_ADMIN)
    own.set_password("Someone-else-pw-1")
    own.save()
    result = load_demo(PASSWORD)
    assert result == {"loaded": False, "reason": "conflict", "conflicts": ["user:admin"]}
    assert User.objects.count() == 1 and Department.objects.count() == 0 and Secret.objects.count() == 0
    assert User.objects.get(username="admin").check_password("Someone-else-pw-1")


def _expected_for(username: str) -> set[str]:
    data = _data()
    groups = {g["name"] for g in data["groups"] if username in g.get("members", [])}
    return {
        e["management_number"] for e in data["secrets"]
        if username in e.get("allowed_users", []) or groups & set(e.get("allowed_groups", []))
    }


def test_employee_sees_only_granted_entries(demo):
    from himitsu.web.accounts import access
    from himitsu.web.accounts.models import Role, User
    from himitsu.web.register.models import Secret

    employee = User.objects.get(username=next(x["username"] for x in demo["logins"] if x["role"] == "employee"))
    assert employee.role == Role.EMPLOYEE
    seen = set(access.visible_secrets(employee).values_list("management_number", flat=True))
    expected = _expected_for(employee.username)
    assert seen == expected
    assert 0 < len(seen) < Secret.objects.count()
    # Never another department's entry unless it was granted.
    assert not {"SAL-2024-001", "SAL-2025-001", "GA-2024-001"} & seen

    # Someone outside every group and list sees nothing.
    outsider = User.objects.get(username="yamamoto")
    assert _expected_for("yamamoto") == set()
    assert not access.visible_secrets(outsider).exists()


def test_department_manager_sees_own_department_and_grants(demo):
    from himitsu.web.accounts import access
    from himitsu.web.accounts.models import User
    from himitsu.web.register.models import Secret

    manager = User.objects.get(username="mori")
    seen = set(access.visible_secrets(manager).values_list("management_number", flat=True))
    own = set(Secret.objects.filter(owner_department__code="SALES").values_list("management_number", flat=True))
    assert seen == own | _expected_for("mori")
    assert access.visible_secrets(User.objects.get(username="kansa")).count() == 20


def test_demo_logins_can_browse_the_register(demo, client):
    from himitsu.web.accounts import access
    from himitsu.web.accounts.models import User

    for login in demo["logins"]:
        user = User.objects.get(username=login["username"])
        client.force_login(user)
        for url in ["/", "/register/"]:
            assert client.get(url).status_code == 200, (login["username"], url)
        for secret in access.visible_secrets(user)[:3]:
            for url in [f"/register/{secret.pk}/", f"/register/{secret.pk}/history/"]:
                assert client.get(url).status_code == 200, (login["username"], url)
        client.logout()


def test_people_and_agreements(demo):
    """The demo shows issue 4's pieces: leaving cases for the people with a leaving date (exit pledge naming what
    they can access), pledges acknowledged and outstanding, training with people overdue."""
    from himitsu.web.accounts import access
    from himitsu.web.accounts.models import User
    from himitsu.web.pledges.models import Pledge
    from himitsu.web.training import services as training
    from himitsu.web.workflows.models import Case

    leavers = User.objects.filter(left_on__isnull=False)
    assert leavers.count() >= 2
    for person in leavers:
        case = Case.objects.get(person=person, kind="leaving", status="open")
        assert case.due_on == person.left_on and case.steps.count() >= 6
        exit_pledge = Pledge.objects.get(person=person, template_code="leaving")
        assert set(exit_pledge.secrets.all()) == set(access.visible_secrets(person)) != set()
    assert Pledge.objects.filter(template_code="joining", status="acknowledged").count() >= 3
    assert Pledge.objects.filter(template_code="joining", status="issued").exists()
    kanri = User.objects.get(username="kanri")
    overdue = training.overdue(kanri)
    assert {r.person.username for r in overdue} >= {"yamada.s", "ishikawa"}
