"""Template context shared by every page: the user's role and what the menus may show."""

from __future__ import annotations

from typing import Any

from himitsu.web.accounts import access
from himitsu.web.notices.services import unread_count


def himitsu(request: Any) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "can_view_audit": access.can_view_audit(user),
        "can_create": access.can_create(user),
        "can_import": access.can_import(user),
        "can_manage_levels": access.can_manage_levels(user),
        "can_manage_users": access.can_manage_users(user),
        "can_list_people": access.can_list_people(user),
        "shows_cases_menu": access.shows_cases_menu(user),
        "can_list_reviews": access.can_list_reviews(user),
        "can_view_scans": access.can_view_scans(user),
        "can_list_scan_targets": access.can_list_scan_targets(user),
        "can_view_guard_policy": access.can_view_guard_policy(user),
        "can_list_guard_decisions": access.can_list_guard_decisions(user),
        "unread_notices": unread_count(user),
    }
