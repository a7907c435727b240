"""Registering documents that hold a secret, and checking text or files against them.

The engine (himitsu.engine) does the work; this module connects it to the register: which document
belongs to which entry, who did it (audit), and who may learn about it (need-to-know).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from himitsu import config
from himitsu.engine.check import Engine, Result
from himitsu.engine.index import IndexCorrupt, IndexMismatch
from himitsu.engine.model import SecretRef
from himitsu.errors import ConfigError, InputError
from himitsu.web.accounts import access
from himitsu.web.accounts.models import Department
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.db import Recent
from himitsu.web.register import resolve, services
from himitsu.web.register.models import Category, Secret, SecretDocument

UNASSIGNED = {"code": "UNASSIGNED", "name": "未割当", "name_en": "Unassigned"}


class _Owners:
    """The register entry of each registered document, for serving processes, without a query per checked text:
    every document's entry id is read in one query when the process starts serving (a document belongs to one
    entry for good; one added later is read when first matched), and an entry's title and level are kept for
    ``seconds`` (a change made elsewhere shows within them). A removed document leaves the index, so the engine
    no longer asks for it; a removed entry is not found and its documents are None."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._doc_ids = np.zeros(0, dtype=np.int64)  # sorted
        self._entry_ids = np.zeros(0, dtype=np.int64)  # the entry of each, in the same order
        self._later: dict[int, int] = {}  # documents read after the load
        self._nowhere = Recent(0, limit=100_000)  # ids that are no document (kept ``seconds``)
        self._entries = Recent(0)  # entry id -> SecretRef

    def keep(self, seconds: float) -> None:
        with self._lock:
            self.seconds = seconds
            self._later, self._nowhere, self._entries = {}, Recent(seconds, 100_000), Recent(seconds)
            if not seconds:
                self._doc_ids = self._entry_ids = np.zeros(0, dtype=np.int64)
                return
            pairs = np.array(list(SecretDocument.objects.order_by("pk").values_list("pk", "secret_id")),
                             dtype=np.int64).reshape(-1, 2)
            self._doc_ids, self._entry_ids = pairs[:, 0].copy(), pairs[:, 1].copy()

    def resolve(self, doc_ids: Sequence[int]) -> dict[int, SecretRef | None]:
        entry_of: dict[int, int | None] = {}
        unknown = []
        known = self._doc_ids
        if len(known):
            wanted = np.asarray(doc_ids, dtype=np.int64)
            at = np.minimum(np.searchsorted(known, wanted), len(known) - 1)
            hit = known[at] == wanted
            entry_of.update(zip(wanted[hit].tolist(), self._entry_ids[at[hit]].tolist(), strict=True))
        for doc_id in doc_ids:
            if doc_id in entry_of:
                continue
            if doc_id in self._later:
                entry_of[doc_id] = self._later[doc_id]
            elif self._nowhere.get(doc_id):
                entry_of[doc_id] = None
            else:
                unknown.append(doc_id)
        for start in range(0, len(unknown), _IN_CHUNK):
            chunk = unknown[start:start + _IN_CHUNK]
            found = dict(SecretDocument.objects.filter(pk__in=chunk).values_list("pk", "secret_id").order_by())
            for doc_id in chunk:
                entry_of[doc_id] = found.get(doc_id)
                if doc_id in found:
                    if len(self._later) >= _LATER_LIMIT:  # (read again when next matched)
                        self._later = {}
                    self._later[doc_id] = found[doc_id]
                else:
                    self._nowhere.put(doc_id, True)
        refs = {entry: self._entries.get(entry) for entry in set(entry_of.values()) if entry is not None}
        missing = [entry for entry, ref in refs.items() if ref is None]
        for start in range(0, len(missing), _IN_CHUNK):
            for pk, title, level in Secret.objects.filter(pk__in=missing[start:start + _IN_CHUNK]).values_list(
                    "pk", "title", "level__name").order_by():
                refs[pk] = SecretRef(id=pk, title=title, level=level)
                self._entries.put(pk, refs[pk])
        return {doc_id: refs.get(entry) if entry is not None else None for doc_id, entry in entry_of.items()}


_owners = _Owners()


def keep_refs(seconds: float) -> None:
    """Serving processes (``himitsu.web.guard.serving``): every document's entry read now, an entry's title and
    level reused for ``seconds`` (a level or title changed elsewhere shows within them); 0: everything read each
    time (pages, CLI, tests)."""
    _owners.keep(seconds)


#: ids per query of resolve_documents (SQLite limits a statement's parameters)
_IN_CHUNK = 500
#: documents added since a serving process read them all, kept at most
_LATER_LIMIT = 100_000


def resolve_documents(doc_ids: Sequence[int]) -> dict[int, SecretRef | None]:
    """The register entries of several registered documents (the engine asks once per checked text for every
    document it found passages of), None for a document no longer registered: in serving processes from what
    :class:`_Owners` keeps, else in one query (one per ``_IN_CHUNK`` ids)."""
    if _owners.seconds:
        return _owners.resolve(doc_ids)
    out: dict[int, SecretRef | None] = dict.fromkeys(doc_ids)
    for start in range(0, len(doc_ids), _IN_CHUNK):  # a long text may match many documents: bounded IN lists
        rows = SecretDocument.objects.filter(pk__in=doc_ids[start:start + _IN_CHUNK]).values_list(
            "pk", "secret_id", "secret__title", "secret__level__name").order_by()
        out.update((pk, SecretRef(id=secret_id, title=title, level=level)) for pk, secret_id, title, level in rows)
    return out


@cache
def _engine(index_dir: str) -> Engine:
    try:
        return Engine(index_dir=index_dir, key=config.fingerprint_key(), resolve_many=resolve_documents)
    except (IndexCorrupt, IndexMismatch) as exc:
        raise ConfigError("index.unusable", path=index_dir, reason=str(exc)) from exc


def engine() -> Engine:
    return _engine(str(config.index_dir()))


@dataclass(frozen=True)
class Added:
    document: SecretDocument
    problems: list[Any]


def _level(text: str) -> int:
    level = resolve.Directory().level(text)
    if level is None:
        raise InputError("secret.level_unknown", level=text)
    return level


def _next_number() -> str:
    year = timezone.localdate().year
    prefix = f"DOC-{year}-"
    taken = Secret.objects.filter(management_number__startswith=prefix).values_list("management_number", flat=True)
    numbers = [int(n[len(prefix):]) for n in taken if n[len(prefix):].isdigit()]
    return f"{prefix}{(max(numbers) + 1) if numbers else 1:04d}"


def new_entry(ctx: services.Context, title: str, level: str, department: str = "") -> Secret:
    """A register entry created for documents (CLI `secrets add` without --secret): owner department as
    given, else 未割当 so that the register shows it needs an owner."""
    from himitsu.web.register.forms import SecretForm

    dept = (Department.objects.filter(code=department).first() if department else
            Department.objects.get_or_create(code=UNASSIGNED["code"], defaults=UNASSIGNED)[0])
    if dept is None:
        raise InputError("department.not_found", department=department)
    form = SecretForm({"management_number": _next_number(), "title": title, "category": Category.TECHNICAL,
                       "level": _level(level), "legal_type": "trade_secret", "owner_department": dept.pk,
                       "protection_decision": "undecided", "published": "unknown", "patented": "unknown",
                       "reverse_engineerable": "unknown"}, actor=ctx.actor)
    if not form.is_valid():
        raise InputError("secret.invalid", reason="; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return services.save(ctx, form)


def add_document(ctx: services.Context, secret: Secret, name: str, data: bytes) -> Added:
    """Fingerprint ``data`` into the index as a document of ``secret``; the text itself is not kept."""
    return add_documents(ctx, secret, [(name, data)])[0]


def add_documents(ctx: services.Context, secret: Secret, files: Sequence[tuple[str, bytes]]) -> list[Added]:
    """Fingerprint several files as documents of ``secret``, all or nothing: one database transaction and one
    index commit (a file without text refuses the lot)."""
    access.require(access.can_edit(ctx.actor, secret))
    added = []
    with transaction.atomic(), engine().registering() as register:
        for name, data in files:
            doc = SecretDocument.objects.create(
                secret=secret, filename=name[:255], size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                added_by=ctx.actor.get_username())
            stats = register(doc.pk, data, name)
            if stats.fingerprints == 0:
                raise InputError("secret.no_text", path=name)
            doc.format, doc.normalized_chars, doc.fingerprints = (stats.format, stats.normalized_chars,
                                                                  stats.fingerprints)
            doc.save(update_fields=["format", "normalized_chars", "fingerprints"])
            chain.record(Action.UPDATE, actor=ctx.actor, request=ctx.request, channel=ctx.channel,
                         object_type="secret", object_id=secret.pk, object_repr=secret.management_number,
                         details={"document_added": doc.pk, "file": name[:200], "fingerprints": stats.fingerprints})
            added.append(Added(doc, list(stats.problems)))
    return added


def remove_document(ctx: services.Context, doc_id: int) -> SecretDocument:
    doc = SecretDocument.objects.select_related("secret").filter(pk=doc_id).first()
    if doc is None or not access.can_view(ctx.actor, doc.secret):
        raise InputError("document.not_found", id=doc_id)
    access.require(access.can_edit(ctx.actor, doc.secret))
    with transaction.atomic():
        chain.record(Action.UPDATE, actor=ctx.actor, request=ctx.request, channel=ctx.channel,
                     object_type="secret", object_id=doc.secret_id, object_repr=doc.secret.management_number,
                     details={"document_removed": doc.pk, "file": doc.filename[:200]})
        doc.delete()
        engine().remove(doc_id)
    return doc


def check(ctx: services.Context, name: str, data: bytes) -> Result:
    """Inspect one input; findings about entries the actor may not see are reported without naming them."""
    result = engine().check(data, name)
    visible = set(access.visible_secrets(ctx.actor).values_list("pk", flat=True))
    result = result.hide_secrets(lambda ref: ref.id in visible)
    chain.record(Action.VIEW, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="check",
                 object_repr=name[:250], details={"verdict": result.verdict, "findings": len(result.findings)})
    return result
