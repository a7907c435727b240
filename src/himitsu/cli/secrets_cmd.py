"""`himitsu secrets add|remove`: register the documents that hold a secret (only fingerprints are kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from django.utils.translation import gettext as _
from rich.table import Table

from himitsu.cli import runtime
from himitsu.cli.register_cmd import AS_HELP, actor
from himitsu.cli.runtime import console, emit_json, guarded
from himitsu.errors import InputError

app = typer.Typer(no_args_is_help=True)


@app.command("add", help="秘密を含む文書を登録 / Register documents holding a secret (fingerprints only).")
@guarded
def add(
    paths: Annotated[list[Path], typer.Argument(help="Files to register.")],
    title: Annotated[str, typer.Option(help="Title of the new register entry (default: the first file name).")]
    = "",
    level: Annotated[str, typer.Option(help="Classification of a new entry: 極秘, 秘 or 社外秘.")] = "秘",
    secret: Annotated[int | None, typer.Option("--secret", help="Add to this existing register entry (id).")]
    = None,
    department: Annotated[str, typer.Option(help="Owner department code of a new entry.")] = "",
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    runtime.setup()
    from django.db import transaction

    from himitsu.engine.model import Limits
    from himitsu.web.accounts import access
    from himitsu.web.register import documents, services
    from himitsu.web.register.models import Secret

    ctx = services.Context(actor=actor(as_user), channel="cli")
    # every file is read before anything is written
    blobs = [(p, runtime.read_file(p, Limits().max_bytes)) for p in paths]
    with transaction.atomic():  # the new entry and every document, or nothing (one index commit)
        if secret is not None:
            entry = access.visible_secrets(ctx.actor).filter(pk=secret).first()
            if entry is None:
                raise InputError("secret.not_found", id=secret)
        else:
            entry = documents.new_entry(ctx, title or paths[0].name, level, department)
        added = documents.add_documents(ctx, entry, [(p.name, data) for p, data in blobs])
    entry = Secret.objects.get(pk=entry.pk)
    if json_out:
        emit_json({"secret": {"id": entry.pk, "management_number": entry.management_number, "title": entry.title,
                              "level": entry.level.name},
                   "documents": [{"id": a.document.pk, "path": str(p), "format": a.document.format,
                                  "fingerprints": a.document.fingerprints,
                                  "problems": [x.code for x in a.problems]} for a, (p, _d) in zip(added, blobs,
                                                                                                 strict=True)]})
        return
    console.print(_("Register entry %(number)s (id %(id)d): %(title)s")
                  % {"number": entry.management_number, "id": entry.pk, "title": entry.title})
    table = Table(_("document id"), _("file"), _("format"), _("fingerprints"))
    for a in added:
        table.add_row(str(a.document.pk), a.document.filename, a.document.format, str(a.document.fingerprints))
    console.print(table)


@app.command("remove", help="登録文書を削除 / Remove a registered document and its fingerprints.")
@guarded
def remove(
    document_id: Annotated[int, typer.Argument(help="Document id printed by `secrets add`.")],
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    runtime.setup()
    from himitsu.web.register import documents, services

    ctx = services.Context(actor=actor(as_user), channel="cli")
    doc = documents.remove_document(ctx, document_id)
    if json_out:
        emit_json({"removed": document_id, "secret": doc.secret_id, "file": doc.filename})
    else:
        console.print(_("Document %(id)d (%(file)s) was removed.") % {"id": document_id, "file": doc.filename})


@app.command("background", help="秘密でない文書を共通表現として登録 / Register non-secret documents as common phrases.")
@guarded
def background(
    paths: Annotated[list[Path], typer.Argument(help="Templates, public manuals, boilerplate: never secret.")],
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Text shared with these documents is not reported as a registered secret (the background model)."""
    runtime.setup()
    from himitsu.engine.model import Limits
    from himitsu.web.accounts.access import system_actor
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import Action
    from himitsu.web.register import documents

    blobs = [(p, runtime.read_file(p, Limits().max_bytes)) for p in paths]
    counts = documents.engine().add_backgrounds([(data, p.name) for p, data in blobs])  # one background file
    chain.record(Action.UPDATE, actor=system_actor(), channel="cli", object_type="register",
                 details={"background_files": len(blobs), "fingerprints": sum(counts)})
    if json_out:
        emit_json({"files": [{"path": str(p), "fingerprints": n} for (p, _d), n in zip(blobs, counts, strict=True)]})
    else:
        console.print(_("%(n)d files added to the background model (%(f)d fingerprints).")
                      % {"n": len(blobs), "f": sum(counts)})


@app.command("compact", help="指紋索引を1つにまとめる / Merge the fingerprint index into one segment.")
@guarded
def compact(json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    """Merges segments and background files (dropping removed documents): lookups get faster. Readers keep
    working meanwhile; run it when few documents are being registered (it holds the index's write lock)."""
    runtime.setup()
    from dataclasses import asdict

    from himitsu.web.accounts.access import system_actor
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import Action
    from himitsu.web.register import documents

    engine = documents.engine()
    assert engine.index is not None  # documents.engine() always has one
    before = asdict(engine.index.stats())
    engine.compact()
    after = asdict(engine.index.stats())
    chain.record(Action.UPDATE, actor=system_actor(), channel="cli", object_type="register",
                 details={"index_compacted": True})
    if json_out:
        emit_json({"before": before, "after": after})
    else:
        console.print(_("The fingerprint index was compacted: %(before)d segments → %(after)d.")
                      % {"before": before["segments"], "after": after["segments"]})
