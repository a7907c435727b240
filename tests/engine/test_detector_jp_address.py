"""jp-address: prefecture + municipality + house number, postal codes, all 47 prefectures."""

from __future__ import annotations

import pytest

from himitsu.engine.detectors.jp_address import PREFECTURES, JpAddressDetector
from himitsu.engine.model import TextPart


def run(text: str) -> list:
    return list(JpAddressDetector().detect(TextPart("", text, "text")))


@pytest.mark.parametrize(("text", "address", "reason"), [
    ("東京都千代田区霞が関1-3-1", "東京都千代田区霞が関1-3-1", "jp_address.full"),
    ("大阪府大阪市北区梅田1丁目2番3号の3階", "大阪府大阪市北区梅田1丁目2番3号", "jp_address.full"),
    ("北海道札幌市中央区北1条西2丁目", "北海道札幌市中央区北1条西2丁目", "jp_address.full"),
    ("京都府京都市中京区寺町通御池上る上本能寺前町488番地", "京都府京都市中京区寺町通御池上る上本能寺前町488番地",
     "jp_address.full"),
    ("東京都西多摩郡奥多摩町氷川215-6", "東京都西多摩郡奥多摩町氷川215-6", "jp_address.full"),
    ("神奈川県横浜市中区日本大通1", "神奈川県横浜市中区日本大通1", "jp_address.full"),
    ("愛知県名古屋市中区三の丸三丁目1番2号", "愛知県名古屋市中区三の丸三丁目1番2号", "jp_address.full"),
    ("東京都千代田区霞が関一丁目", "東京都千代田区霞が関一丁目", "jp_address.full"),
    ("東京都港区六本木6-10-1 六本木ヒルズ", "東京都港区六本木6-10-1", "jp_address.full"),
    ("東京都府中市宮西町２－２４", "東京都府中市宮西町２－２４", "jp_address.full"),
    ("〒100-8901 東京都千代田区霞が関1-3-1", "〒100-8901 東京都千代田区霞が関1-3-1", "jp_address.full_postal"),
    ("〒１００－８９０１　東京都千代田区霞が関１－３－１", "〒１００－８９０１　東京都千代田区霞が関１－３－１",
     "jp_address.full_postal"),
    ("100-8901 東京都千代田区霞が関1-3-1", "100-8901 東京都千代田区霞が関1-3-1", "jp_address.full_postal"),
    ("千代田区霞が関3-1-1", "千代田区霞が関3-1-1", "jp_address.city"),
    ("横浜市西区みなとみらい2-3-1", "横浜市西区みなとみらい2-3-1", "jp_address.city"),
    ("〒220-0012 横浜市西区みなとみらい2-3-1", "〒220-0012 横浜市西区みなとみらい2-3-1", "jp_address.city_postal"),
    ("〒100-8901", "〒100-8901", "jp_address.postal_code"),
    ("郵便番号：1008901", "郵便番号：1008901", "jp_address.postal_code"),
])
def test_true_positives(text, address, reason):
    [f] = run(text)
    assert text[f.start:f.end] == address
    assert (f.detector, f.reason) == ("jp-address", reason)


@pytest.mark.parametrize("prefecture", PREFECTURES)
def test_every_prefecture(prefecture):
    assert len(PREFECTURES) == 47
    [f] = run(f"住所は{prefecture}中央市本町1-2-3です")
    assert f.reason == "jp_address.with_context" and f.snippet.startswith(f"{prefecture}中央市")


@pytest.mark.parametrize(("text", "score"), [
    ("東京都千代田区霞が関1-3-1", 0.7), ("〒100-8901 東京都千代田区霞が関1-3-1", 0.85), ("千代田区霞が関3-1-1", 0.6),
    ("〒100-8901", 0.3), ("住所：東京都千代田区霞が関1-3-1", 0.8),
])
def test_scores(text, score):
    [f] = run(text)
    assert round(f.score, 2) == score


@pytest.mark.parametrize("text", [
    "東京都千代田区にある会社で2019年に設立",  # place name, no house number
    "大阪府の人口は880万人",
    "東京都内で3-4人",
    "京都府警",
    "北海道",
    "100-8901",  # a bare number is no postal code
    "〒100-890",
])
def test_near_misses(text):
    assert run(text) == []


def test_snippet_masks_street_and_number():
    [f] = run("〒100-8901 東京都千代田区霞が関1-3-1")
    assert f.snippet == "〒100-**** 東京都千代田区********"
    assert "霞が関" not in f.snippet and "8901" not in f.snippet


def test_a_phone_number_is_no_postal_code():
    from himitsu.engine.detectors.jp_address import JpAddressDetector
    from himitsu.engine.model import TextPart

    text = "連絡先 090-1234-5678 東京都千代田区霞が関1-3-1"
    (f,) = JpAddressDetector().detect(TextPart("", text, "text"))
    assert text[f.start:f.end].startswith("東京都") and f.reason == "jp_address.full"
