"""Japanese postal addresses: 都道府県 + 市区町村 + 町名 + 番地, optionally after a 〒 postal code.

The search anchors on a prefecture (all 47), a designated city (政令指定都市), a Tokyo special ward or
a postal code (〒 / 郵便番号), and reads the rest of the address from there. A prefecture and a city
alone ("東京都千代田区にある") are a place name, not an address: a house number (番地: "1-3-1",
"1丁目2番3号", "北1条西2丁目", "488番地") is required.

Scores: prefecture + municipality + number 0.7, 0.85 with a postal code in front; a city or ward
without prefecture + number 0.6, 0.75 with a postal code; a lone postal code 0.3; +0.1 with a context
word (住所, 所在地, 送付先, address, ...) within 60 characters. Snippets keep the prefecture and
municipality and mask the rest: ``〒100-**** 東京都千代田区*******``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from himitsu.engine import prefilter
from himitsu.engine.detectors.base import DIGIT, ContextWords, Detector, by_first_character
from himitsu.engine.model import Finding, TextPart
from himitsu.errors import gettext_noop

PREFECTURES: tuple[str, ...] = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県", "群馬県", "埼玉県",
    "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県", "岐阜県", "静岡県",
    "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県",
    "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県",
    "宮崎県", "鹿児島県", "沖縄県",
)
DESIGNATED_CITIES: tuple[str, ...] = (
    "札幌市", "仙台市", "さいたま市", "千葉市", "横浜市", "川崎市", "相模原市", "新潟市", "静岡市", "浜松市",
    "名古屋市", "京都市", "大阪市", "堺市", "神戸市", "岡山市", "広島市", "北九州市", "福岡市", "熊本市",
)
TOKYO_WARDS: tuple[str, ...] = (
    "千代田区", "中央区", "港区", "新宿区", "文京区", "台東区", "墨田区", "江東区", "品川区", "目黒区", "大田区",
    "世田谷区", "渋谷区", "中野区", "杉並区", "豊島区", "北区", "荒川区", "板橋区", "練馬区", "足立区", "葛飾区",
    "江戸川区",
)

_HY = "[-‐‑–—―−－ー]"
_CODE = f"[ \u3000]?{DIGIT}{{3}}{_HY}?{DIGIT}{{4}}(?![0-9０-９])"
# every alternative of the anchor pattern starts with a literal character: that lets the search skip
# ahead to candidate characters (a leading group would make it try every position, 30× slower)
# (see base.by_first_character)
_POSTAL = (f"〒{_CODE}", f"郵便番号[:：]?{_CODE}")
# characters of municipality and town names: no digits, spaces, punctuation or particles of prose
_NAME = "[^\\s0-9０-９、。，,．.「」『』()（）\\[\\]【】:：;；/・をはでにへ\\-‐‑–—―−－ー]"
_NUM = f"(?:{DIGIT}{{1,5}}|[一二三四五六七八九十〇]{{1,3}})"
_MARK = f"(?:丁目|条[東西南北]?|番地|番|号|の|{_HY})"
# "1-3-1", "1丁目2番3号", "北1条西2丁目", "488番地"; a bare number only where the line or phrase ends
_HOUSE = (f"(?:{_NUM}{_MARK}(?:{_NUM}{_MARK}?){{0,4}}"
          f"|{DIGIT}{{1,5}}(?=[\\s、。，,)）]|$))")
_AFTER_PREFECTURE = re.compile(f"[ \u3000]?(?:{_NAME}{{1,8}}?[市区町村郡]){{1,3}}")
_AFTER_CITY = re.compile(f"(?:{_NAME}{{1,6}}?区)?")
_TOWN_AND_HOUSE = re.compile(f"{_NAME}{{0,20}}{_HOUSE}")  # greedy: 三の丸 and 一ツ橋 are names
# a postal code just before the address; never the tail of a longer number (090-1234-5678)
_POSTAL_BEFORE = re.compile(f"(?:〒[ \u3000]?)?(?<![0-9０-９\\-‐‑–—―−－ー]){DIGIT}{{3}}{_HY}{DIGIT}{{4}}[ \u3000]*$")


def _anchor_pattern() -> re.Pattern[str]:
    names = sorted(PREFECTURES + DESIGNATED_CITIES + TOKYO_WARDS, key=len, reverse=True)
    return re.compile(by_first_character([*_POSTAL, *names]))


_ANCHORS = _anchor_pattern()
#: prefilter: every anchor starts with 〒, 郵便番号 or one of the names
_TRIGGERS = prefilter.register("jp-address", [prefilter.literal(w) for w in (
    "〒", "郵便番号", *PREFECTURES, *DESIGNATED_CITIES, *TOKYO_WARDS)])


class JpAddressDetector(Detector):
    id: ClassVar[str] = "jp-address"
    translated_params: ClassVar[tuple[str, ...]] = ("what",)
    reasons: ClassVar[dict[str, str]] = {
        "jp_address.full": gettext_noop("Japanese postal address (prefecture, municipality and house number)"),
        "jp_address.full_postal": gettext_noop("Japanese postal address with postal code (prefecture, municipality and house "
                                  "number)"),
        "jp_address.city": gettext_noop("Japanese postal address (city or ward and house number)"),
        "jp_address.city_postal": gettext_noop("Japanese postal address with postal code (city or ward and house number)"),
        "jp_address.postal_code": gettext_noop("Japanese postal code"),
        "jp_address.with_context": gettext_noop("{what} next to the word {word}"),
    }
    pattern: ClassVar[re.Pattern[str]] = _ANCHORS
    context_words: ClassVar[ContextWords] = ContextWords([
        "住所", "所在地", "自宅", "現住所", "送付先", "届け先", "お届け先", "配送先", "本籍", "居所", "address",
    ], window=60)
    score_full: ClassVar[float] = 0.7
    score_city: ClassVar[float] = 0.6
    score_postal_code: ClassVar[float] = 0.3
    postal_bonus: ClassVar[float] = 0.15
    context_bonus: ClassVar[float] = 0.1

    def detect(self, part: TextPart, context: Any = None) -> Iterator[Finding]:
        text = part.text
        near = self.context_words.finder(text)
        done = 0
        starts = prefilter.starts(part, _TRIGGERS, context) if self.pattern is _ANCHORS else None
        for m in prefilter.finditer(self.pattern, text, starts):
            if m.start() < done:
                continue
            found = self._read(text, m)
            if found is None:
                continue
            start, end, shown, reason, score = found
            done = end
            kind = reason.split(".", 1)[1]
            word = near(start, end)
            snippet = _mask(text, start, end, shown)
            if word is not None:
                score = round(min(1.0, score + self.context_bonus), 2)
                yield self.finding(part, start, end, score, "jp_address.with_context", snippet,
                                   what=self.reasons[reason], word=word, kind=kind)
            else:
                yield self.finding(part, start, end, score, reason, snippet, kind=kind)

    def _read(self, text: str, m: re.Match[str]) -> tuple[int, int, tuple[int, int], str, float] | None:
        """(start, end, span shown in the snippet, reason, score) of the address found at anchor ``m``."""
        start = m.start()
        if m.group()[0] in "〒郵":
            pos = m.end()
            while pos < len(text) and text[pos] in " \u3000":
                pos += 1
            after = self.pattern.match(text, pos)
            address = None if after is None or after.group()[0] in "〒郵" else self._address(text, after)
            if address is None:
                return start, m.end(), (m.end(), m.end()), "jp_address.postal_code", self.score_postal_code
            end, shown_end, full = address
            reason = "jp_address.full_postal" if full else "jp_address.city_postal"
            score = round((self.score_full if full else self.score_city) + self.postal_bonus, 2)
            return start, end, (after.start(), shown_end), reason, score
        address = self._address(text, m)
        if address is None:
            return None
        end, shown_end, full = address
        base = self.score_full if full else self.score_city
        before = _POSTAL_BEFORE.search(text, max(0, start - 14), start)
        if before is None:
            return start, end, (start, shown_end), "jp_address.full" if full else "jp_address.city", base
        reason = "jp_address.full_postal" if full else "jp_address.city_postal"
        return before.start(), end, (start, shown_end), reason, round(base + self.postal_bonus, 2)

    def _address(self, text: str, anchor: re.Match[str]) -> tuple[int, int, bool] | None:
        """(end, end of the municipality, has a prefecture) of an address starting with ``anchor``."""
        full = anchor.group() in _PREFECTURE_SET
        muni = (_AFTER_PREFECTURE if full else _AFTER_CITY).match(text, anchor.end())
        if muni is None:
            return None
        house = _TOWN_AND_HOUSE.match(text, muni.end())
        if house is None:
            return None
        end = house.end()
        while end > muni.end() and text[end - 1] in "の-‐‑–—―−－ー":
            end -= 1
        return end, muni.end(), full


_PREFECTURE_SET = frozenset(PREFECTURES)


def _mask(text: str, start: int, end: int, shown: tuple[int, int]) -> str:
    """Prefecture and municipality as they are, a postal code's first three digits, the rest masked."""
    code_end = min(max(shown[0], start), end)  # before it: the postal code in front
    name_end = max(code_end, min(shown[1], end))  # before it: shown as it is
    code = text[start:code_end]
    if code:
        seen = 0
        for k, ch in enumerate(code):
            if ch in _ALL_DIGITS:
                seen += 1
                if seen == 3:
                    code = code[:k + 1] + code[k + 1:].translate(_DIGITS_MASKED)
                    break
    rest = text[name_end:end]
    if " " in rest or "\u3000" in rest:
        rest = _NOT_SPACE.sub("*", rest)
    else:
        rest = "*" * len(rest)
    return code + text[code_end:name_end] + rest


_ALL_DIGITS = frozenset("0123456789０１２３４５６７８９")
_DIGITS_MASKED = str.maketrans(dict.fromkeys(_ALL_DIGITS, "*"))
_NOT_SPACE = re.compile("[^ \u3000]")
