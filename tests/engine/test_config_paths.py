"""himitsu.config: folders made once per process and key files read once, yet a changed or lost key file is seen."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from himitsu import config


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("HIMITSU_HOME", str(path))
    monkeypatch.delenv("HIMITSU_AUDIT_KEY", raising=False)
    monkeypatch.delenv("HIMITSU_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("HIMITSU_INDEX_DIR", raising=False)
    return path


def test_home_and_index_made_with_private_keys_folder(home: Path) -> None:
    assert config.home() == home
    assert config.index_dir() == home / "index"
    assert (home / "index").is_dir()
    assert oct((home / "keys").stat().st_mode & 0o777) == "0o700"


def test_generated_key_is_stable_and_private(home: Path) -> None:
    first = config.audit_key()
    assert len(first) >= 48
    assert config.audit_key() == first
    assert oct((home / "keys" / "audit-chain.key").stat().st_mode & 0o777) == "0o600"


def test_a_replaced_key_file_is_read_again(home: Path) -> None:
    config.audit_key()
    key_file = home / "keys" / "audit-chain.key"
    key_file.write_text("another key of a different length\n", encoding="utf-8")
    os.utime(key_file, ns=(1, 1))  # mtime changes even on a coarse clock
    assert config.audit_key() == b"another key of a different length"


def test_a_removed_keys_folder_is_made_again_with_a_new_key(home: Path) -> None:
    first = config.audit_key()
    shutil.rmtree(home / "keys")
    second = config.audit_key()
    assert second != first
    assert (home / "keys" / "audit-chain.key").read_text(encoding="utf-8").strip().encode() == second


def test_unwritable_home_is_reported_each_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("HIMITSU_HOME", str(blocker / "home"))
    for _ in range(2):
        with pytest.raises(config.ConfigError) as info:
            config.home()
        assert info.value.code == "config.home_unwritable"
