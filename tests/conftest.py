"""Shared fixtures: a small organisation with one user per role, on SQLite or PostgreSQL.

The database is chosen by HIMITSU_DATABASE_URL (unset: SQLite). `make test` runs the suite on both.
"""

from __future__ import annotations

import pytest

PASSWORD = "Himitsu-test-pw-2026"
_HASHES: dict[str, str] = {}


def password_hash() -> str:
    """The Argon2 hash of PASSWORD, computed once (Argon2 is slow by design)."""
    from django.contrib.auth.hashers import make_password

    if "argon2" not in _HASHES:
        _HASHES["argon2"] = make_password(PASSWORD)
    return _HASHES["argon2"]


@pytest.fixture
def org(db):
    """Two departments, one user per role (+ a second employee), two secrets, one group."""
    from himitsu.web.accounts.models import AccessGroup, Department, Role, User
    from himitsu.web.register.models import ClassificationLevel, Secret

    dev = Department.objects.create(code="DEV", name="開発部", name_en="Development")
    sales = Department.objects.create(code="SALES", name="営業部", name_en="Sales")

    def user(name: str, role: str, dept: Department | None) -> User:
        u = User(username=name, role=role, department=dept, display_name=name.title(), password=password_hash())
        u.save()
        return u

    users = {
        "admin": user("admin", Role.SYSTEM_ADMIN, None),
        "manager": user("manager", Role.SECRET_MANAGER, None),
        "devlead": user("devlead", Role.DEPT_MANAGER, dev),
        "saleslead": user("saleslead", Role.DEPT_MANAGER, sales),
        "alice": user("alice", Role.EMPLOYEE, dev),
        "bob": user("bob", Role.EMPLOYEE, dev),
        "auditor": user("auditor", Role.AUDITOR, None),
    }
    group = AccessGroup.objects.create(name="設計チーム")
    group.members.add(users["bob"])
    gokuhi = ClassificationLevel.objects.get(code="gokuhi")
    hi = ClassificationLevel.objects.get(code="hi")
    recipe = Secret.objects.create(management_number="DEV-001", title="焼結条件", category="technical",
                                   level=gokuhi, owner_department=dev, responsible=users["devlead"])
    recipe.allowed_users.add(users["alice"])
    prices = Secret.objects.create(management_number="SAL-001", title="顧客別価格表", category="business",
                                   level=hi, owner_department=sales, responsible=users["saleslead"])
    drawing = Secret.objects.create(management_number="DEV-002", title="金型図面", category="technical",
                                    level=hi, owner_department=dev)
    drawing.allowed_groups.add(group)
    from himitsu.web.register.services import refresh_stale

    refresh_stale()  # stored scores as the app keeps them

    class Org:
        pass

    o = Org()
    o.dev, o.sales, o.users, o.group = dev, sales, users, group
    o.recipe, o.prices, o.drawing = recipe, prices, drawing
    o.levels = {"gokuhi": gokuhi, "hi": hi}
    return o


@pytest.fixture
def login(client):
    """login('alice') -> the test client logged in as that user."""

    def _login(username: str):
        client.force_login(__import__("himitsu.web.accounts.models", fromlist=["User"]).User.objects.get(
            username=username))
        return client

    return _login


from tests.smtp import smtp  # noqa: E402,F401  (the fixture: a real SMTP server on 127.0.0.1)
