"""Scan sources by URL scheme: local folders, SMB shares, S3-compatible buckets."""

from __future__ import annotations

from typing import Any

from himitsu.engine.scan.sources.base import Entry, ScanIOError, Source, SourceSpec, WalkError

__all__ = ["Entry", "ScanIOError", "Source", "SourceSpec", "WalkError", "open_source", "scheme_of"]


def scheme_of(url: str) -> str:
    """"smb", "s3" or "file" (a plain path or file:// URL)."""
    head = url.split("://", 1)[0].lower() if "://" in url else ""
    return head if head in ("smb", "s3") else "file"


def _class(scheme: str) -> type[Source]:
    """Imported on first use: a local scan does not load the SMB and S3 client libraries."""
    if scheme == "smb":
        from himitsu.engine.scan.sources.smb import SMBSource

        return SMBSource
    if scheme == "s3":
        from himitsu.engine.scan.sources.s3 import S3Source

        return S3Source
    from himitsu.engine.scan.sources.local import LocalSource

    return LocalSource


def open_source(url: str | SourceSpec, **options: Any) -> Source:
    """The source for ``url``; ``options`` are the source's settings (see each source's docstring)."""
    spec = url if isinstance(url, SourceSpec) else SourceSpec(url=url, options=dict(options))
    return _class(scheme_of(spec.url))(spec)
