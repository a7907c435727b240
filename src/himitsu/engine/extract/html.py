"""HTML text through lxml.html, without script, style and template content.

The character set comes from a byte-order mark, ``<meta charset>`` / ``http-equiv`` or the XML
declaration, and is verified by strict decoding; otherwise it is detected like plain text. Block
elements end lines and table cells are separated by tabs, so words from neighbouring cells do not run
together. ``meta["encoding"]`` names the charset used, ``meta["title"]`` the document title.
Limits: the input is at most ``max_bytes``; lxml's own parser limits apply (no network, no entities).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

import lxml.html
from lxml import etree

from himitsu.engine.extract.base import Context, Extractor, Item, Unsupported
from himitsu.engine.extract.encoding import Decoded, decode_declared, decode_text
from himitsu.engine.model import Problem, TextPart

_HEAD = 4096
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_SNIFF = re.compile(rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>]",
                    re.IGNORECASE | re.DOTALL)
_BLOCKS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section", "article",
           "header", "footer", "nav", "aside", "blockquote", "pre", "dt", "dd", "title", "hr", "form", "ul",
           "ol", "dl", "address", "figcaption", "caption", "main")
_CELLS = ("td", "th")
_DROP = ("script", "style", "template")
_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n(?:[ \t\r\f\v]*\n)+")


class HtmlExtractor(Extractor):
    id = "html"
    priority = 50
    extensions: ClassVar[tuple[str, ...]] = (".html", ".htm", ".xhtml", ".shtml")

    def sniff(self, data: bytes, name: str) -> bool:
        head = data[:_HEAD]
        if head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
            head = head.decode("utf-16", errors="ignore").encode("utf-8")
        return bool(_SNIFF.match(head))

    def extract(self, data: bytes, name: str, path: str, ctx: Context) -> Iterator[Item]:
        decoded = decode_html(data)
        if decoded is None:
            raise Unsupported("binary")
        if decoded.replaced:
            yield Problem("encoding", path, f"{decoded.replaced} undecodable bytes replaced ({decoded.encoding})")
        text, title = html_to_text(decoded.text)
        meta: dict[str, object] = {"encoding": decoded.encoding}
        if title:
            meta["title"] = title
        yield TextPart(path, text, "html", meta)


def decode_html(data: bytes, declared: str | None = None) -> Decoded | None:
    """Bytes of an HTML document to text: BOM, then the declared charset (argument, meta tag or XML
    declaration) if it decodes strictly, then detection."""
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return decode_text(data)
    head = data[:_HEAD]
    match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    charset = declared or (match.group(1).decode("ascii") if match else None)
    return decode_declared(data, charset)


def html_to_text(markup: str) -> tuple[str, str]:
    """Visible text of an HTML document and its title (``""`` when there is none)."""
    markup = _XML_DECL.sub("", markup, count=1)
    if not markup.strip():
        return "", ""
    try:
        root = lxml.html.document_fromstring(markup)
    except (etree.ParserError, ValueError):
        return "", ""
    for element in list(root.iter(*_DROP)):
        element.drop_tree()
    title_el = root.find(".//title")
    title = (title_el.text_content() if title_el is not None else "").strip()
    for element in root.iter(*_BLOCKS):
        element.tail = "\n" + (element.tail or "")
    for element in root.iter(*_CELLS):
        element.tail = "\t" + (element.tail or "")
    text = root.text_content()
    return _BLANK_LINES.sub("\n\n", text).strip(), title
