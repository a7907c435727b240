"""The engine modules import and work without Django (the CLI resolves paths before Django starts)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PURE = ["himitsu", "himitsu.catalog", "himitsu.catalog.checklist", "himitsu.jpdate", "himitsu.errors",
        "himitsu.config", "himitsu.engine", "himitsu.engine.check", "himitsu.engine.extract",
        "himitsu.engine.normalize", "himitsu.engine.fingerprint", "himitsu.engine.index",
        *[f"himitsu.engine.detectors.{m.stem}" for m in (SRC / "himitsu" / "engine" / "detectors").glob("*.py")],
        *[f"himitsu.engine.extract.{m.stem}" for m in (SRC / "himitsu" / "engine" / "extract").glob("*.py")]]

BLOCK_DJANGO = textwrap.dedent("""
    import sys
    from importlib.abc import MetaPathFinder

    class NoDjango(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "django" or name.startswith("django.") or name == "ninja" or name.startswith("ninja."):
                raise ImportError(f"{name} is blocked: this module must not need Django")
            return None

    sys.meta_path.insert(0, NoDjango())
    for loaded in [m for m in sys.modules if m == "django" or m.startswith("django.")]:
        del sys.modules[loaded]
""")


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HIMITSU_"))}
    env["HIMITSU_HOME"] = str(tmp_path / "home")
    return subprocess.run([sys.executable, "-c", BLOCK_DJANGO + textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=60, cwd=tmp_path)


def test_blocker_works(tmp_path):
    r = _run("import django\n", tmp_path)
    assert r.returncode != 0 and "blocked" in r.stderr


@pytest.mark.parametrize("module", PURE)
def test_module_imports_without_django(tmp_path, module):
    r = _run(f"""
        import importlib, sys
        importlib.import_module({module!r})
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("django", "ninja"))
        assert not leaked, leaked
        print("ok")
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_engine_works_without_django(tmp_path):
    r = _run("""
        import sys
        from datetime import date
        from himitsu import config, errors, jpdate
        from himitsu.catalog import checklist as cl, text

        assert jpdate.parse("令和7年4月1日") == date(2025, 4, 1)
        facts = cl.Facts(has_summary=True, has_responsible=True, marking="㊙", people_with_access=2,
                         organisation_size=10, location_count=1, review_date=date(2099, 1, 1),
                         today=date(2025, 4, 1), answers={"pledges": "yes", "rules_known": "yes",
                                                          "rules_enforced": "yes"})
        result = cl.assess(facts)
        assert (result.score, result.status) == (100, "qualifies"), result
        assert text(cl.item_definition("marked")["title"], "en") == "Marked as secret"
        err = errors.PermissionDeniedError()
        assert err.code == "access.denied" and "permission" in str(err)
        db = config.parse_database_url("postgresql://u:p%40ss@db:5433/himitsu")
        assert (db.engine, db.user, db.password, db.host, db.port, db.name) == (
            "postgresql", "u", "p@ss", "db", "5433", "himitsu")
        assert config.database().is_sqlite
        assert len(config.audit_key()) > 20
        assert not [m for m in sys.modules if m.split(".")[0] == "django"]
        print("ok")
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
    assert (tmp_path / "home" / "keys" / "audit-chain.key").exists()


def test_detection_engine_works_without_django(tmp_path):
    r = _run("""
        import sys
        from himitsu.engine.check import Engine
        from himitsu.engine.model import SecretRef

        engine = Engine(index_dir="idx", key=b"k" * 32, resolve=lambda i: SecretRef(i, "t", "秘"))
        text = "量産ライン三号機の焼結条件は材料ロットごとに補正係数を見直し、品質保証部の承認を得て更新する。" * 2
        assert engine.register(7, text.encode("utf-8"), "a.txt").fingerprints > 0
        result = engine.check_text("社外秘 " + text[5:80])
        assert {f.detector for f in result.findings} >= {"registered-secret", "marking"}, result
        assert not [m for m in sys.modules if m.split(".")[0] == "django"]
        print("ok")
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
