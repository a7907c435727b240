"""The `himitsu` command: one module per command group, all callers of the same services as the web app."""

from __future__ import annotations

from himitsu.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
