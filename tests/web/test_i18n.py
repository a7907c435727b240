"""Every text is translated: the Japanese catalogue is complete, current and compiled."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "himitsu"
PO = PACKAGE / "locale" / "ja" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def test_catalogue_has_no_untranslated_or_fuzzy_entries():
    po = polib.pofile(str(PO))
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []


def test_compiled_catalogue_matches_the_source():
    po = {(e.msgctxt, e.msgid): (e.msgstr or e.msgstr_plural.get(0)) for e in polib.pofile(str(PO))
          if not e.obsolete}
    mo = {(e.msgctxt, e.msgid): (e.msgstr or e.msgstr_plural.get(0)) for e in polib.mofile(str(MO)) if e.msgid}
    assert mo == po, "run `make messages` (compilemessages) after editing django.po"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext tools are not installed")
def test_every_text_in_the_code_is_in_the_catalogue(tmp_path):
    copy = tmp_path / "himitsu"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    django_admin = Path(sys.executable).parent / "django-admin"
    subprocess.run([str(django_admin), "makemessages", "-l", "ja", "--no-obsolete", "--no-location",
                    "--settings", "himitsu.web.settings"], cwd=copy, check=True, capture_output=True)
    fresh = {e.msgid for e in polib.pofile(str(copy / "locale" / "ja" / "LC_MESSAGES" / "django.po"))}
    known = {e.msgid for e in polib.pofile(str(PO)) if e.translated()}
    assert sorted(fresh - known) == [], "new texts: run `make messages` and translate them"
