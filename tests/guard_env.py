"""Shared data of the outbound guard's tests (issue 6): an organisation with registered documents in a private
HIMITSU_HOME and fingerprint index, and the texts that do and do not carry its secrets."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from django.test import Client

RECIPE = ("焼結炉の温度プロファイルは第一ゾーンで八百五十度、第二ゾーンで千百二十度とし、保持時間は四十五分とする。"
          "雰囲気ガスは窒素九十五パーセント水素五パーセントの混合とし、露点はマイナス四十度以下に管理する。"
          "冷却速度は毎分十五度を上限とし、量産ライン三号機の補正係数は材料ロットごとに見直す。")
PRICES = ("顧客別の特別価格は、北関東精機向けが標準単価の八十二パーセント、南海電装向けが七十九パーセントである。"
          "年間契約で三千個を超える場合はさらに三パーセントを値引きし、支払条件は月末締め翌々月十日払いとする。"
          "この価格表は四半期ごとに営業部長が改定し、改定前の表は速やかに廃棄すること。")
#: an excerpt of RECIPE as someone would paste it into a mail or prompt
EXCERPT = ("お疲れさまです。例の件、以下の通りです。\n"
           "焼結炉の温度プロファイルは第一ゾーンで八百五十度、第二ゾーンで千百二十度とし、保持時間は四十五分とする。"
           "雰囲気ガスは窒素九十五パーセント水素五パーセントの混合とし、露点はマイナス四十度以下に管理する。\nよろしくお願いします。")
#: an excerpt of PRICES (秘)
PRICES_EXCERPT = ("見積の参考まで。顧客別の特別価格は、北関東精機向けが標準単価の八十二パーセント、南海電装向けが"
                  "七十九パーセントである。年間契約で三千個を超える場合はさらに三パーセントを値引きし、支払条件は"
                  "月末締め翌々月十日払いとする。")
HARMLESS = "明日の会議は十五時からです。会議室Bでお願いします。議題は来期の研修計画です。"


def my_number(first11: str) -> str:
    weights = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2]
    r = sum(int(d) * w for d, w in zip(first11, weights, strict=True)) % 11
    return first11 + str(0 if r <= 1 else 11 - r)


MY_NUMBER = my_number("12345678901")
PERSONAL = f"山田太郎さんの個人番号（マイナンバー）は {MY_NUMBER} です。手続きに使ってください。"


class ServedClient(Client):
    """Django's test client, routing requests as the served application does (``himitsu.web.wsgi.TokenCalls``):
    check-API calls with a bearer token to a handler with only the API's middleware, the rest to the full one."""

    def __init__(self, **defaults: Any) -> None:
        from django.test.client import ClientHandler

        from himitsu.web.wsgi import api_handler

        super().__init__(**defaults)
        self.full = self.handler
        self.api = api_handler(lambda: ClientHandler(enforce_csrf_checks=False))

    def request(self, **request: Any) -> Any:
        from himitsu.web.wsgi import token_call

        self.handler = self.api if token_call(self._base_environ(**request)) else self.full
        return super().request(**request)


@pytest.fixture(name="guarded")
def guarded_fixture(org, tmp_path, monkeypatch):
    """``org`` with RECIPE registered as DEV-001's document (極秘; alice granted) and PRICES as SAL-001's (秘),
    e-mail addresses for every user, a private HIMITSU_HOME and index, and fresh rate limits."""
    from himitsu.web.api_guard import reset_rate_limits
    from himitsu.web.register import documents
    from himitsu.web.register.services import Context

    monkeypatch.setenv("HIMITSU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HIMITSU_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.delenv("HIMITSU_QUARANTINE_KEY", raising=False)
    monkeypatch.delenv("HIMITSU_QUARANTINE_KEY_FILE", raising=False)
    reset_rate_limits()
    manager = Context(actor=org.users["manager"], channel="test")
    documents.add_document(manager, org.recipe, "条件表.txt", RECIPE.encode())
    documents.add_document(manager, org.prices, "価格表.txt", PRICES.encode())
    for name, user in org.users.items():
        user.email = f"{name}@example.co.jp"
        user.save(update_fields=["email"])
    org.tmp = tmp_path
    yield org
    reset_rate_limits()
    # each test's index is mapped into memory (one descriptor per mapped file): let go of it, or hundreds of
    # descriptors pile up and later tests' sockets get numbers select() cannot take
    documents._engine.cache_clear()
    gc.collect()
