"""Plain text in any of the encodings Japanese offices use, detected (see ``encoding``).

Also the dispatcher's fallback for content nobody else claimed: bytes that are not text give
``Problem("unsupported", path, "binary")``; a lossy decode gives ``Problem("encoding", ...)`` and the text.
Limits: the input is at most ``max_bytes`` (dispatcher); the text is cut at ``max_text_chars``.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import ClassVar

from himitsu.engine.extract.base import Context, Extractor, Item, Unsupported
from himitsu.engine.extract.encoding import decode_text
from himitsu.engine.model import Problem, TextPart

_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class TextExtractor(Extractor):
    id = "text"
    priority = 90
    extensions: ClassVar[tuple[str, ...]] = (
        ".txt", ".text", ".csv", ".tsv", ".md", ".log", ".json", ".xml", ".yaml", ".yml", ".ini", ".cfg",
        ".conf", ".env", ".properties", ".sql", ".py", ".js", ".ts", ".java", ".c", ".h", ".cs", ".go",
        ".rb", ".php", ".sh", ".bat", ".ps1", ".pem", ".key", ".tex", ".srt", ".vtt",
    )

    def sniff(self, data: bytes, name: str) -> bool:
        """Only a byte-order mark is a content signature; otherwise text is the fallback."""
        return data.startswith(_BOMS)

    def extract(self, data: bytes, name: str, path: str, ctx: Context) -> Iterator[Item]:
        decoded = decode_text(data)
        if decoded is None:
            raise Unsupported("binary")
        meta: dict[str, object] = {"encoding": decoded.encoding}
        if decoded.replaced:
            meta["replaced"] = decoded.replaced
            yield Problem("encoding", path, f"{decoded.replaced} undecodable bytes replaced ({decoded.encoding})")
        yield TextPart(path, decoded.text, "text", meta)
