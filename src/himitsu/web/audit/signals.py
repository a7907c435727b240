"""Record logins, failed logins and logouts in the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from himitsu.web.audit import chain
from himitsu.web.audit.models import Action


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    chain.record(Action.LOGIN, actor=user, request=request, object_type="user", object_id=user.pk,
                 object_repr=user.get_username())


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        chain.record(Action.LOGOUT, actor=user, request=request, object_type="user", object_id=user.pk,
                     object_repr=user.get_username())


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    attempted = str(credentials.get("username", ""))[:150]
    chain.record(Action.LOGIN_FAILED, request=request, actor_name="", object_type="user",
                 object_repr=attempted, details={"username": attempted})
