"""The guard of a check worker process (``himitsu guard serve --workers N``): Django set up once in the worker,
then the web app's :class:`~himitsu.web.guard.services.DatabaseGuard`. Sent to the workers by name, so this
module imports nothing of Django at import time."""

from __future__ import annotations

from typing import Any


def database_guard() -> Any:
    from himitsu.cli import runtime

    runtime.setup(migrate=False)  # the serving process migrated already
    from himitsu.web.guard import serving
    from himitsu.web.guard.services import DatabaseGuard, warm_up

    warm_up()
    serving.enable()
    return DatabaseGuard()
