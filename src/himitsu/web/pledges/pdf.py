"""The PDF of a pledge (WeasyPrint, Japanese fonts from the system: Noto CJK).

WeasyPrint renders HTML with Pango/HarfBuzz, so Japanese line breaking and font fallback work as in a
browser. It is imported on first use: the rest of the app runs without it. Nothing outside the HTML is
fetched (no URLs, no local files): the url_fetcher refuses everything.
"""

from __future__ import annotations

import re
from typing import Any

from django.template.loader import render_to_string

from himitsu.errors import ConfigError

_ARTICLE = re.compile(r"^(第[0-9０-９]+条|Article \d+)")


def blocks(text: str) -> list[tuple[str, str]]:
    """The text's lines with a layout kind: title (the first line), note (a parenthesised line right after
    it), article (第N条 / Article N headings), blank, or line. The words are exactly the issued text."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not out and line.strip():
            kind = "title"
        elif len(out) == 1 and line.startswith("("):
            kind = "note"
        elif not line.strip():
            kind = "blank"
        elif _ARTICLE.match(line):
            kind = "article"
        else:
            kind = "line"
        out.append((kind, line))
    return out


def render_pdf(context: dict[str, Any]) -> bytes:
    """A PDF from ``pledges/pdf.html`` rendered with ``context`` (``pledge``)."""
    pledge = context["pledge"]
    context = {**context, "blocks_ja": blocks(pledge.text), "blocks_en": blocks(pledge.text_en or "")}
    html = render_to_string("pledges/pdf.html", context)
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # package or its system libraries (Pango) missing
        raise ConfigError("pledge.pdf_unavailable", reason=str(exc).splitlines()[0][:200]) from None
    fetcher = weasyprint.URLFetcher(allowed_protocols=())  # no http, file or data URLs
    return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
