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

| role            | insider risk (pseudonymised list, person pages, ingest and scoring, reveal)            |
|-----------------|----------------------------------------------------------------------------------------|
| system_admin    | list and person pages (pseudonymised), ingest, score                                   |
| secret_manager  | list and person pages, ingest, score, reveal an identity (with a reason, audited)      |
| dept_manager    | none                                                                                   |
| employee        | none                                                                                   |
| auditor         | list and person pages (pseudonymised, read-only); reveals in the audit trail           |
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
    return acts_for_departments(user)


def acts_for_departments(user: Any) -> bool:
    """Writes for everyone, or for their own department (a department manager with a department)."""
    role = role_of(user)
    return role in WRITE_ALL or (role == Role.DEPT_MANAGER and bool(user.department_id))


def acts_for_person(user: Any, person: Any) -> bool:
    """Writes for everyone, or is the department manager of the person's department."""
    role = role_of(user)
    if role in WRITE_ALL:
        return True
    return (role == Role.DEPT_MANAGER and bool(user.department_id)
            and getattr(person, "department_id", None) == user.department_id)


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


# People: personal data (type, number, joining and leaving, side jobs) for the two roles that run the practice.
PEOPLE_MANAGERS = {Role.SYSTEM_ADMIN, Role.SECRET_MANAGER}


def can_view_person(user: Any, person: Any = None) -> bool:
    """A person's page (type, dates, side-job notices)."""
    return role_of(user) in PEOPLE_MANAGERS


def can_list_people(user: Any) -> bool:
    """The people list (read-only unless can_manage_users: accounts and groups are the administrator's)."""
    return role_of(user) in PEOPLE_MANAGERS


def shows_cases_menu(user: Any) -> bool:
    """The menu entry for joining and leaving cases: the roles that open, own or audit their steps."""
    return role_of(user) in CASES_MENU


def can_import_people(user: Any) -> bool:
    """The HR import (creates and updates people, never their roles)."""
    return role_of(user) in PEOPLE_MANAGERS


def can_manage_side_jobs(user: Any, person: Any = None) -> bool:
    """Record a side-job notice (兼業・副業の届出) and approve or reject it."""
    return role_of(user) in PEOPLE_MANAGERS


def can_manage_levels(user: Any) -> bool:
    return role_of(user) in WRITE_ALL


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDeniedError()


# --- Pledges and NDAs (誓約書・秘密保持契約) -------------------------------------------------------------
# Issue (and upload a signed paper, revoke): trade-secret managers and system administrators for anyone,
# department managers for the people of their department. Everyone sees and acknowledges their own
# pledges; auditors see all and change nothing. A department manager does not see a pledge of their
# department that names a register entry they may not see (the text would show its number and title).
PLEDGES_ALL = {Role.SYSTEM_ADMIN, Role.SECRET_MANAGER, Role.AUDITOR}


def can_issue_pledges(user: Any) -> bool:
    return acts_for_departments(user)


def can_issue_pledge_to(user: Any, person: Any) -> bool:
    return acts_for_person(user, person)


def people_acted_for(user: Any) -> QuerySet:
    """The active people this user acts for (see acts_for_person)."""
    from himitsu.web.accounts.models import User

    role = role_of(user)
    people = User.objects.filter(is_active=True)
    if role in WRITE_ALL:
        return people
    if role == Role.DEPT_MANAGER and user.department_id:
        return people.filter(department_id=user.department_id)
    return people.none()


def pledge_recipients(user: Any) -> QuerySet:
    """The active people this user may issue pledges to."""
    return people_acted_for(user)


def can_list_pledges(user: Any) -> bool:
    """The managers' list of pledges (issuers and auditors)."""
    return can_issue_pledges(user) or role_of(user) == Role.AUDITOR


def visible_pledges(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    from himitsu.web.pledges.models import Pledge

    qs = queryset if queryset is not None else Pledge.objects.all()
    role = role_of(user)
    if role in PLEDGES_ALL:
        return qs
    if role is None:
        return qs.none()
    mine = Q(person_id=user.pk)
    if role == Role.DEPT_MANAGER and user.department_id:
        from himitsu.web.register.models import Secret

        hidden = Secret.objects.exclude(pk__in=visible_secrets(user).values("pk")).values("pk")
        blocked = Pledge.secrets.through.objects.filter(secret_id__in=hidden).values("pledge_id")
        return qs.filter(mine | (Q(person__department_id=user.department_id) & ~Q(pk__in=blocked)))
    return qs.filter(mine)


def can_view_pledge(user: Any, pledge: Any) -> bool:
    return visible_pledges(user).filter(pk=pledge.pk).exists()


def can_manage_pledge(user: Any, pledge: Any) -> bool:
    """Upload the signed paper or revoke."""
    return can_issue_pledge_to(user, pledge.person) and can_view_pledge(user, pledge)


def can_acknowledge_pledge(user: Any, pledge: Any) -> bool:
    return role_of(user) is not None and user.pk is not None and user.pk == pledge.person_id


# --- Training (教育) ---------------------------------------------------------------------------------------
# Courses: trade-secret managers and system administrators create and edit them. Completions: they record for
# anyone; department managers see and record for the people of their department; everyone sees their own;
# auditors see all and change nothing.
TRAINING_ALL = {Role.SYSTEM_ADMIN, Role.SECRET_MANAGER, Role.AUDITOR}


def can_manage_courses(user: Any) -> bool:
    return role_of(user) in WRITE_ALL


def can_record_training(user: Any) -> bool:
    return acts_for_departments(user)


def can_record_training_for(user: Any, person: Any) -> bool:
    return acts_for_person(user, person)


def can_view_training_overview(user: Any) -> bool:
    """The overdue list per department (managers, department managers, auditors)."""
    return role_of(user) in TRAINING_ALL or can_record_training(user)


def training_people(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    """The people whose training records this user may see."""
    from himitsu.web.accounts.models import User

    qs = queryset if queryset is not None else User.objects.all()
    role = role_of(user)
    if role in TRAINING_ALL:
        return qs
    if role is None:
        return qs.none()
    if role == Role.DEPT_MANAGER and user.department_id:
        return qs.filter(Q(department_id=user.department_id) | Q(pk=user.pk))
    return qs.filter(pk=user.pk)


def training_recipients(user: Any) -> QuerySet:
    """The active people this user may record completions for."""
    return people_acted_for(user)


# --- Joining and leaving cases (入社・退職手続き) ------------------------------------------------------------
# Trade-secret managers and system administrators: everything. Department managers: the cases of their
# department's people (open, complete steps, cancel) and any step they own. Step owners: their steps. The
# person themself sees nothing of their own leaving case except the steps assigned to them. Auditors: all,
# read-only. Revoking a person's access (register grants, groups, account) is for the two managing roles.
CASES_ALL = {Role.SYSTEM_ADMIN, Role.SECRET_MANAGER, Role.AUDITOR}
CASES_MENU = CASES_ALL | {Role.DEPT_MANAGER}


def _dept_case(user: Any, case: Any) -> bool:
    """A department manager's own-department case (never their own leaving case)."""
    if role_of(user) != Role.DEPT_MANAGER or not user.department_id:
        return False
    if case.person_id == user.pk and case.kind == "leaving":
        return False
    return getattr(case.person, "department_id", None) == user.department_id


def can_open_cases(user: Any) -> bool:
    return acts_for_departments(user)


def can_open_case_for(user: Any, person: Any) -> bool:
    """As acts_for_person, but a department manager never opens a case about themself."""
    return acts_for_person(user, person) and (role_of(user) in WRITE_ALL or person.pk != user.pk)


def case_people(user: Any) -> QuerySet:
    """The people this user may open a case for."""
    from himitsu.web.accounts.models import User

    role = role_of(user)
    if role in WRITE_ALL:
        return User.objects.all()
    if role == Role.DEPT_MANAGER and user.department_id:
        return User.objects.filter(department_id=user.department_id).exclude(pk=user.pk)
    return User.objects.none()


def visible_cases(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    from himitsu.web.workflows.models import Case, Step

    qs = queryset if queryset is not None else Case.objects.all()
    role = role_of(user)
    if role in CASES_ALL:
        return qs
    if role is None:
        return qs.none()
    owned = Q(pk__in=Step.objects.filter(owner_id=user.pk).values("case_id"))
    if role == Role.DEPT_MANAGER and user.department_id:
        own_leaving = Q(person_id=user.pk, kind="leaving")
        return qs.filter(owned | (Q(person__department_id=user.department_id) & ~own_leaving))
    return qs.filter(owned)


def can_list_cases(user: Any) -> bool:
    return role_of(user) is not None


def can_view_case(user: Any, case: Any) -> bool:
    return visible_cases(user).filter(pk=case.pk).exists()


def can_see_all_steps(user: Any, case: Any) -> bool:
    """Every step of the case (otherwise only the steps the user owns)."""
    return role_of(user) in CASES_ALL or _dept_case(user, case)


def visible_steps(user: Any, case: Any) -> QuerySet:
    steps = case.steps.all()
    if can_see_all_steps(user, case):
        return steps
    if role_of(user) is None:
        return steps.none()
    return steps.filter(owner_id=user.pk)


def can_manage_case(user: Any, case: Any) -> bool:
    """Cancel, complete, change owners."""
    return role_of(user) in WRITE_ALL or _dept_case(user, case)


def can_complete_step(user: Any, step: Any) -> bool:
    if role_of(user) is None:
        return False
    return can_manage_case(user, step.case) or (user.pk is not None and step.owner_id == user.pk)


def can_revoke_access(user: Any, person: Any = None) -> bool:
    """Remove a person from every register entry, access group and deactivate the account."""
    return role_of(user) in WRITE_ALL


# --- Access grants and access reviews (アクセス権付与・定期アクセスレビュー) -------------------------------------
# Grants explain the register's allowed users/groups. Everyone who may see an entry sees its grants (as the entry
# page shows who has access); those who may edit the entry grant and revoke. Reviews: trade-secret managers and
# system administrators open them; the department's manager(s) named as reviewers decide; auditors read all.
REVIEWS_ALL = {Role.SYSTEM_ADMIN, Role.SECRET_MANAGER, Role.AUDITOR}


def can_view_grants(user: Any, secret: Any) -> bool:
    return can_view(user, secret)


def can_manage_grants(user: Any, secret: Any) -> bool:
    return can_edit(user, secret)


def can_open_reviews(user: Any) -> bool:
    return role_of(user) in WRITE_ALL


def visible_reviews(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    from himitsu.web.grants.models import Review

    qs = queryset if queryset is not None else Review.objects.all()
    role = role_of(user)
    if role in REVIEWS_ALL:
        return qs
    if role is None:
        return qs.none()
    return qs.filter(reviewers=user.pk)


def can_list_reviews(user: Any) -> bool:
    return role_of(user) in REVIEWS_ALL or role_of(user) == Role.DEPT_MANAGER


def can_view_review(user: Any, review: Any) -> bool:
    return visible_reviews(user).filter(pk=review.pk).exists()


def can_decide_review(user: Any, review: Any) -> bool:
    """Confirm or revoke the review's grants and close it: its reviewers only (never auditors)."""
    if role_of(user) is None or role_of(user) == Role.AUDITOR or user.pk is None:
        return False
    return review.reviewers.filter(pk=user.pk).exists()


# --- Scans of file stores (スキャン) -------------------------------------------------------------------------------
# Targets (folders, shares, buckets) are defined and run by trade-secret managers and system administrators.
# Findings follow need-to-know: a finding about a register entry is visible to exactly those who may see the
# entry (visible_secrets), whatever the target. Findings without an entry (personal data and credentials
# patterns, markings no entry matched, a marked document outside the top-level locations) are visible to
# trade-secret managers, system administrators and auditors, and to a department manager for the targets of
# their department; never to employees (the path and snippet of an unknown document are not theirs to know).
# An employee thus sees only findings about entries granted to them. Triage: trade-secret managers and system
# administrators for every finding; a department manager for the visible findings of their department (about an
# entry their department owns, or without an entry on a target of their department); auditors read only.
# Runs and their errors (paths of unreadable files): the roles that see every finding, and a department
# manager for their department's targets. Targets: those roles as for runs; others see the targets their
# visible findings are on.
SCANS_ALL = {Role.SYSTEM_ADMIN, Role.SECRET_MANAGER, Role.AUDITOR}


def can_manage_scan_targets(user: Any) -> bool:
    """Create, change and delete scan targets, and scan from the command line."""
    return role_of(user) in WRITE_ALL


def can_run_scans(user: Any, target: Any = None) -> bool:
    """Start a scan of a target now ("run now", the CLI)."""
    return role_of(user) in WRITE_ALL


def can_list_scan_targets(user: Any) -> bool:
    """The targets and runs pages: the roles that see every finding, and department managers (for their
    department's targets and those their visible findings are on). Employees do not."""
    return role_of(user) in SCANS_ALL | {Role.DEPT_MANAGER}


def can_view_scans(user: Any) -> bool:
    """The scans menu and the findings list (filtered by visible_scan_findings)."""
    return role_of(user) is not None


def visible_scan_findings(user: Any, qs: QuerySet | None = None) -> QuerySet:
    from himitsu.web.scans.models import ScanFinding

    qs = qs if qs is not None else ScanFinding.objects.all()
    role = role_of(user)
    if role in SCANS_ALL:
        return qs
    if role is None:
        return qs.none()
    allowed = Q(secret__isnull=False, secret_id__in=visible_secrets(user).values("pk"))
    if role == Role.DEPT_MANAGER and user.department_id:
        allowed |= Q(secret__isnull=True, target__department_id=user.department_id)
    return qs.filter(allowed)


def can_view_scan_finding(user: Any, finding: Any) -> bool:
    return visible_scan_findings(user).filter(pk=finding.pk).exists()


def can_triage_scan_finding(user: Any, finding: Any) -> bool:
    role = role_of(user)
    if role in WRITE_ALL:
        return True
    if role != Role.DEPT_MANAGER or not user.department_id or not can_view_scan_finding(user, finding):
        return False
    if finding.secret_id is not None:
        return finding.secret.owner_department_id == user.department_id
    return finding.target.department_id == user.department_id


def can_view_scan_runs(user: Any, target: Any) -> bool:
    """A target's runs and their errors (paths of what could not be read)."""
    role = role_of(user)
    if role in SCANS_ALL:
        return True
    return (role == Role.DEPT_MANAGER and bool(user.department_id)
            and getattr(target, "department_id", None) == user.department_id)


def visible_scan_targets(user: Any, qs: QuerySet | None = None) -> QuerySet:
    from himitsu.web.scans.models import ScanTarget

    qs = qs if qs is not None else ScanTarget.objects.all()
    role = role_of(user)
    if role in SCANS_ALL:
        return qs
    if role is None:
        return qs.none()
    mine = Q(pk__in=visible_scan_findings(user).values("target_id"))
    if role == Role.DEPT_MANAGER and user.department_id:
        mine |= Q(department_id=user.department_id)
    return qs.filter(mine)


# --- Outbound guard (送信ガード) -------------------------------------------------------------------------------------
# The policy (rules and exceptions) and the API tokens of integrations are managed by trade-secret managers and
# system administrators; auditors read the policy and the tokens (never a token's secret, which is not kept).
# Decision records (who sent what kind of content where, and what the guard did; never content) are seen by those
# two roles and auditors, and by a department manager for the senders of their department (the department
# recorded with the decision, i.e. the sender's department when they sent). Records name register entries by id
# and level only; a page shows a title only through visible_secrets.
# The quarantine of held mail: its list follows the decision records. Reviewing (reading the held content,
# releasing, rejecting) is for trade-secret managers and system administrators, and for a department manager for
# the held mail of their department's senders only when every register entry it matched is visible to them
# (releasing mail is reading it: a department manager must not read another department's secret to decide).
# Auditors never review and never read held content. Employees see none of this.
GUARD_ALL = {Role.SYSTEM_ADMIN, Role.SECRET_MANAGER, Role.AUDITOR}


def can_manage_guard(user: Any) -> bool:
    """Edit the policy, create and revoke API tokens (web, API, CLI)."""
    return role_of(user) in WRITE_ALL


def can_view_guard_policy(user: Any) -> bool:
    """Read the policy's rules and exceptions and the list of tokens (no secrets in either)."""
    return role_of(user) in GUARD_ALL


def can_test_guard(user: Any) -> bool:
    """Try content against the policy without recording a decision (``himitsu guard test``): anyone signed in;
    findings about entries they may not see are reported without naming them."""
    return role_of(user) is not None


def can_list_guard_decisions(user: Any) -> bool:
    role = role_of(user)
    return role in GUARD_ALL or (role == Role.DEPT_MANAGER and bool(user.department_id))


def visible_guard_decisions(user: Any, qs: QuerySet | None = None) -> QuerySet:
    from himitsu.web.guard.models import GuardDecision

    qs = qs if qs is not None else GuardDecision.objects.all()
    role = role_of(user)
    if role in GUARD_ALL:
        return qs
    if role == Role.DEPT_MANAGER and user.department_id:
        return qs.filter(department=user.department.code)
    return qs.none()


def can_view_guard_decision(user: Any, decision: Any) -> bool:
    return visible_guard_decisions(user).filter(pk=decision.pk).exists()


def visible_quarantine(user: Any, qs: QuerySet | None = None) -> QuerySet:
    """The held (and decided) items whose metadata this user may see: those of the decisions they may see."""
    from himitsu.web.guard.models import QuarantineItem

    qs = qs if qs is not None else QuarantineItem.objects.all()
    return qs.filter(decision__in=visible_guard_decisions(user).values("pk"))


def can_review_quarantine(user: Any, item: Any = None) -> bool:
    """Read the held content, release or reject it. Without ``item``: whether the user reviews any item
    (the menu entry)."""
    role = role_of(user)
    if role in WRITE_ALL:
        return True
    if role != Role.DEPT_MANAGER or not user.department_id:
        return False
    if item is None:
        return True
    decision = item.decision
    if decision.department != user.department.code:
        return False
    ids = {int(i) for i in decision.secret_ids if str(i).isdigit()}
    if not ids:
        return True
    return visible_secrets(user).filter(pk__in=ids).count() == len(ids)


# --- Insider-risk analytics (インサイダーリスク) -------------------------------------------------------------------
# The daily list of people worth a look, their timelines and the ingest status: trade-secret managers and system
# administrators (who also ingest logs and score days), and auditors (read-only). Everyone appears under a
# pseudonym; only a trade-secret manager reveals an identity, giving a reason, and every reveal is audited (the
# auditor sees it in the audit trail). Department managers and employees see none of it: a list about their
# colleagues, even pseudonymised, is not theirs to read.
INSIDER_ANALYSTS = {Role.SYSTEM_ADMIN, Role.SECRET_MANAGER}
INSIDER_READERS = INSIDER_ANALYSTS | {Role.AUDITOR}


def can_view_insider(user: Any) -> bool:
    """The insider-risk list, person pages and ingest status (pseudonymised), and one's own daily budget."""
    return role_of(user) in INSIDER_READERS


def can_run_insider(user: Any) -> bool:
    """Ingest activity logs, load people into the analytics store, score a day ("score now", the CLI)."""
    return role_of(user) in INSIDER_ANALYSTS


def can_reveal_insider(user: Any) -> bool:
    """See who is behind a pseudonym (a reason is required; audited)."""
    return role_of(user) == Role.SECRET_MANAGER
