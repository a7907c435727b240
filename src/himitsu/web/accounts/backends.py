"""Authentication: Django's model backend, except that a person whose leaving date has passed can neither log in
nor keep a session, whether or not the daily job has deactivated the account yet (退職者のアカウント停止)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.utils import timezone


class HimitsuBackend(ModelBackend):
    def user_can_authenticate(self, user: Any) -> bool:
        left_on = getattr(user, "left_on", None)
        if left_on is not None and left_on < timezone.localdate():
            return False
        return super().user_can_authenticate(user)
