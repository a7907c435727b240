"""Where the shared corpus of real Japanese and English text is (../shared/corpus/python-docs-ja).

Looked up next to the checkout (``<checkout>/../shared``), then in HIMITSU_CORPUS_DIR, then at this machine's
/work/shared, so a clone anywhere on the machine (CI clones elsewhere) finds it. A test module that needs it
imports ``CORPUS``; when it is nowhere, importing this module fails the run (tests that silently skip are tests
that cannot fail) unless HIMITSU_ALLOW_NO_CORPUS=1 says that skipping is intended.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_NAME = Path("corpus") / "python-docs-ja"


def _candidates() -> list[Path]:
    here = Path(__file__).resolve().parents[2] / "shared" / _NAME
    configured = os.environ.get("HIMITSU_CORPUS_DIR", "").strip()
    return [here, *([Path(configured)] if configured else []), Path("/work/shared") / _NAME]


def find() -> Path | None:
    return next((p for p in _candidates() if (p / "library").is_dir()), None)


_found = find()
if _found is None and os.environ.get("HIMITSU_ALLOW_NO_CORPUS") != "1":
    raise RuntimeError("the shared corpus python-docs-ja was not found in "
                       + ", ".join(str(p) for p in _candidates())
                       + " (set HIMITSU_CORPUS_DIR, or HIMITSU_ALLOW_NO_CORPUS=1 to skip the tests that need it)")
#: the corpus folder (holding library/ and c-api/), or a path that does not exist when allowed to be missing
CORPUS: Path = _found if _found is not None else _candidates()[0]


def page(name: str) -> str:
    """The text of one library page, e.g. ``page("ja/json")``."""
    return (CORPUS / "library" / f"{name}.txt").read_text(encoding="utf-8")


def pages_engine(index_dir: Path, key: bytes, names: list[str]) -> Any:
    """An engine with only the registered-secret detector and the pages ``names`` registered as documents 1, 2, ...
    one commit each (so the index has several segments); every document resolves to a 秘 entry "doc <id>"."""
    from himitsu.engine.check import Engine
    from himitsu.engine.model import SecretRef

    engine = Engine(index_dir=index_dir, key=key, detectors=["registered-secret"],
                    resolve=lambda i: SecretRef(i, f"doc {i}", "秘"))
    for doc_id, name in enumerate(names, start=1):
        engine.register(doc_id, page(name).encode(), "page.txt")
    return engine
