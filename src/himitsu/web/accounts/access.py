"""Need-to-know: the one place that decides who may see and change what.

Every page, API call, search, export, import and count goes through these functions; nothing
else filters register entries by role.

| role            | register entries                       | writes                    | audit log |
|-----------------|----------------------------------------|---------------------------|-----------|
| system_admin    | all                                    | all, levels, users/groups | yes       |
| secret_manager  | all                                    | all, levels               | no        |
| dept_manager    | own department's + granted to them     | own department's          | no        |
| employee        | granted to them (directly or by group) | none                      | no        |
| auditor         | all (read-only)                        | none                      | yes       |
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from himitsu.errors import PermissionDeniedError
from himitsu.web.accounts.models import Department, Role

ALL_SECRETS = {Role.SYSTEM_ADMIN, Role.SECRET_MANAGER, Role.AUDITOR}
WRITE_ALL = {Role.SYSTEM_ADMIN, Role.SECRET_MANAGER}


@dataclass(frozen=True)
class SystemActor:
    """The operator at the server's shell (CLI without --as): full rights, audited by OS user name."""

    name: str
    pk: None = None
    role: str = Role.SYSTEM_ADMIN
    department_id: None = None
    is_authenticated: bool = True
    is_active: bool = True

    def get_username(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


def system_actor() -> SystemActor:
    try:
        who = getpass.getuser()
    except Exception:  # pragma: no cover - no passwd entry
        who = "unknown"
    return SystemActor(name=f"cli:{who}")


def role_of(user: Any) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return None
    return getattr(user, "role", None)


def visible_secrets(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    """The register entries this user may see (every list, search, count and export starts here)."""
    from himitsu.web.register.models import Secret

    qs = queryset if queryset is not None else Secret.objects.all()
    role = role_of(user)
    if role in ALL_SECRETS:
        return qs
    if role is None:
        return qs.none()
    # Independent semi-joins (not one join over users x groups x members): each uses its own index.
    direct = Secret.allowed_users.through.objects.filter(user_id=user.pk).values("secret_id")
    by_group = Secret.allowed_groups.through.objects.filter(
        accessgroup__members=user.pk).values("secret_id")
    granted = Q(pk__in=direct) | Q(pk__in=by_group)
    if role == Role.DEPT_MANAGER and user.department_id:
        granted |= Q(owner_department_id=user.department_id)
    return qs.filter(granted)


def can_view(user: Any, secret: Any) -> bool:
    return visible_secrets(user).filter(pk=secret.pk).exists()


def can_create_in(user: Any, department: Department | None) -> bool:
    role = role_of(user)
    if role in WRITE_ALL:
        return True
    return role == Role.DEPT_MANAGER and department is not None and department.pk == user.department_id


def can_create(user: Any) -> bool:
    role = role_of(user)
    return role in WRITE_ALL or (role == Role.DEPT_MANAGER and bool(user.department_id))


def can_edit(user: Any, secret: Any) -> bool:
    role = role_of(user)
    if role in WRITE_ALL:
        return True
    return role == Role.DEPT_MANAGER and secret.owner_department_id == user.department_id


can_delete = can_edit


def editable_departments(user: Any) -> QuerySet:
    role = role_of(user)
    if role in WRITE_ALL:
        return Department.objects.all()
    if role == Role.DEPT_MANAGER and user.department_id:
        return Department.objects.filter(pk=user.department_id)
    return Department.objects.none()


def can_import(user: Any) -> bool:
    return can_create(user)


def can_export(user: Any) -> bool:
    return role_of(user) is not None


def can_view_audit(user: Any) -> bool:
    return role_of(user) in {Role.SYSTEM_ADMIN, Role.AUDITOR}


def can_manage_users(user: Any) -> bool:
    return role_of(user) == Role.SYSTEM_ADMIN


def can_manage_levels(user: Any) -> bool:
    return role_of(user) in WRITE_ALL


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDeniedError()
