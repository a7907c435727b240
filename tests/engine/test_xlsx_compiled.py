"""The compiled worksheet reader (``himitsu.engine._xlsx``) against the lxml reader it must match exactly.

``office._sheet_text`` tries the C reader first and falls back to ``office._sheet_text_lxml`` when the C
reader hands back None; ``office.COMPILED_SHEETS = False`` forces the lxml path. Every check compares the
combined function with the lxml one: same result, or the same exception with the same message.
"""

from __future__ import annotations

import io
import pathlib
import random
import zipfile

import pytest

from himitsu.engine import _xlsx  # built by make install: a missing extension fails here, it is not skipped
from himitsu.engine.extract import extract, office
from himitsu.engine.extract.base import Context, Corrupt
from himitsu.engine.model import Limits
from tests.engine.test_extract_fixtures import xlsx, zip_of

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CORPUS = pathlib.Path(__file__).resolve().parents[2] / "var" / "bench" / "scan-corpus" / "tree"
STRINGS = ["氏名", "", "山田 太郎", "x&y"]


@pytest.fixture(autouse=True)
def _compiled(monkeypatch):
    monkeypatch.setattr(office, "COMPILED_SHEETS", True)


def outcome(fn, data: bytes, strings: list[str]) -> tuple:
    try:
        return ("ok", fn(data, strings, "p.xml"))
    except Corrupt as exc:
        return ("corrupt", str(exc))
    except Exception as exc:  # noqa: BLE001 - whatever the lxml path raises, the combined path must raise too
        return (type(exc).__name__, str(exc))


def check(data: bytes, strings: list[str] = STRINGS, handled: bool | None = True) -> tuple:
    """The combined reader gives what the lxml reader gives; ``handled``: whether the C reader must answer
    (True), must hand back to lxml (False), or either (None). Returns the lxml outcome."""
    expected = outcome(office._sheet_text_lxml, data, strings)
    assert outcome(office._sheet_text, data, strings) == expected
    if handled is not None:
        assert (_xlsx.sheet_text(data, strings) is not None) == handled
    return expected


def sheet(body: str, tail: str = "", root: str = f'<worksheet xmlns="{NS}">', end: str = "</worksheet>",
          decl: str = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n') -> bytes:
    return f"{decl}{root}<sheetData>{body}</sheetData>{tail}{end}".encode()


# -- (a) the benchmark corpus ----------------------------------------------------------------------


def _corpus_sheets():
    for path in sorted(CORPUS.rglob("*.xlsx")):
        data = path.read_bytes()
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            continue
        package = office._Package(zf, path.name, Context(Limits()))
        strings = office._shared_strings(package, "xl/workbook.xml")
        for name in zf.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                yield f"{path.name}:{name}", zf.read(name), strings


@pytest.mark.skipif(not CORPUS.is_dir(), reason="no benchmark corpus (var/bench/scan-corpus/tree)")
def test_corpus_sheets_match_lxml():
    count = 0
    for _, data, strings in _corpus_sheets():
        check(data, strings, handled=None)
        count += 1
    assert count > 0


# -- (b) documents built here -----------------------------------------------------------------------

CASES = {
    "shared strings": '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>2</v></c><c t="s"><v>3</v></c></row>',
    "empty shared string": '<row><c t="s"><v>1</v></c></row><row><c t="s"><v>1</v></c><c><v>5</v></c></row>',
    "index out of range": '<row><c t="s"><v>4</v></c><c t="s"><v>99999999999999999999999999</v></c>'
                          '<c><v>1</v></c></row>',
    "index not digits": '<row><c t="s"><v>a1</v></c><c t="s"><v> 1</v></c><c t="s"><v>-1</v></c><c t="s"><v></v></c>'
                        '<c t="s"><v/></c><c t="s"><v>0002</v></c><c t="s"><v>1.0</v></c></row>',
    "inline rich text and furigana": '<row><c t="inlineStr"><is><r><rPr><b/></rPr><t>山田</t></r>'
                                     '<r><t xml:space="preserve"> 太郎</t></r><rPh sb="0" eb="2"><t>ヤマダ</t></rPh>'
                                     '<phoneticPr fontId="1"/></is></c><c t="inlineStr"><is><t>plain</t></is></c>'
                                     '<c t="inlineStr"><is><t>a</t><rPh><t>ア</t></rPh></is></c></row>',
    "inline odd shapes": '<row><c t="inlineStr"><is><t>a<t>b</t></t></is></c>'
                         '<c t="inlineStr"><is><t>a<t>b</t></t><!--x--></is></c>'
                         '<c t="inlineStr"><is><t>a</t><!--x--></is></c><c t="inlineStr"><is/></c>'
                         '<c t="inlineStr"><is><rPh><r><t>r</t></r></rPh></is></c><c><is><t>no type</t></is></c></row>',
    "booleans": '<row><c t="b"><v>1</v></c><c t="b"><v>0</v></c><c t="b"><v>true</v></c><c t="b"><v/></c></row>',
    "numbers": '<row><c><v>42.0</v></c><c><v>-3.0</v></c><c><v>1.50</v></c><c><v>1e3</v></c><c><v>--5.0</v></c>'
               '<c><v>-.0</v></c><c><v>.0</v></c><c><v>²5.0</v></c><c t="n"><v>7.0</v></c>'
               '<c t="e"><v>#DIV/0!</v></c></row>',
    "formulas": '<row><c><f>SUM(A1:A2)</f><v>3.0</v></c><c t="str"><f>A1&amp;"x"</f><v>text</v></c>'
                '<c><f>1/0</f></c></row>',
    "first value wins": '<row><c t="s"><is><t>in</t></is><v>0</v></c><c><v>1</v><v>2</v></c><c><x/><v>3</v></c></row>',
    "empty cells and rows": '<row r="1"><c r="A1"/><c r="B1" s="1"></c></row><row r="2"/><row><c><v></v></c></row>'
                            '<row><c><v>1</v></c></row>',
    "cells outside rows": '<c><v>0</v></c><row><c><v>1</v></c></row><c><v>2</v></c><c t="s"><v>0</v></c>',
    "entities and references": '<row><c t="inlineStr"><is><t>A&amp;B &#x3042;&#12354; x&#13;y &lt;&gt;&quot;&apos;</t>'
                               '</is></c><c t="str"><v>&#x1F600;&#9;</v></c></row>',
    "cdata": '<row><c t="inlineStr"><is><t><![CDATA[<tag> & ]] stuff]]></t></is></c>'
             '<c><v>1<![CDATA[2\r\n3]]></v></c></row>',
    "line ends": '<row><c t="inlineStr"><is><t>a\r\nb\rc\nd&#13;&#10;e</t></is></c><c t="str"><v>x\r\n</v></c></row>',
    "comments and pis": '<row><c><v>1</v></c><!-- note --><?pi data?><c><v>2</v></c><c><!--c--><v>3</v></c>'
                        '<c><v>4<!--x-->5</v></c><c><v>6<?p?>7</v></c></row><!----><?q?>',
    "other namespace": '<row><c xmlns="urn:other"><v>9</v></c><o:row xmlns:o="urn:o"><c><v>1</v></c></o:row>'
                       '<c><o:v xmlns:o="urn:o">5</o:v><v>6</v></c><c o:t="s" xmlns:o="urn:o"><v>1</v></c>'
                       '<q xmlns="urn:q"><c><v>8</v></c><v>8</v></q><n xmlns=""><c><v>8</v></c></n></row>',
    "redeclared prefixes": f'<row xmlns:y="{NS}"><y:c><y:v>4</y:v></y:c><y:c xmlns:y="urn:y"><v>5</v></y:c>'
                           '<c xmlns:y="urn:y"><y:v>6</y:v><v>7</v></c></row>',
    "attribute spellings": '<row><c t = \'s\' ><v>0</v></c><c t="&#115;"><v>2</v></c><c t="s\n"><v>0</v></c>'
                           '<c xml:space="preserve" t="b"><v>1</v></c></row>',
    "nested header": '<row><c><oddHeader>a<b/>c</oddHeader><v>1</v></c></row>',
}

TAIL = ('<headerFooter differentOddEven="1" differentFirst="1">'
        '<oddHeader>&amp;L&amp;"ＭＳ ゴシック"極秘&amp;R&amp;P / &amp;N</oddHeader>'
        '<evenHeader>&amp;C社外秘</evenHeader><firstHeader>&amp;L&amp;"ＭＳ ゴシック"極秘</firstHeader>'
        '<oddFooter>&amp;C社外秘<!-- x -->more</oddFooter><evenFooter><![CDATA[&&x]]></evenFooter><firstFooter/>'
        '</headerFooter>')


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_cases_match_lxml(body):
    check(sheet(body))
    check(sheet(body, TAIL, decl=""))


def test_values_are_read():
    """A few exact results, so that matching lxml means reading the cells at all."""
    assert check(sheet(CASES["shared strings"]))[1] == ("氏名\t山田 太郎\tx&y", "", "")
    assert check(sheet(CASES["numbers"]))[1][0] == "42\t-3\t1.50\t1e3\t--5\t-.0\t.0\t²5\t7\t#DIV/0!"
    assert check(sheet(CASES["inline rich text and furigana"]))[1][0] == "山田 太郎\tplain\ta"
    assert check(sheet(CASES["line ends"]))[1][0] == "a\nb\nc\nd\r\ne\tx\n"
    assert check(sheet("", TAIL))[1] == ("", "極秘 /\n社外秘\n極秘", "社外秘\n&x")


def test_prefixed_document():
    body = ('<x:row><x:c t="s"><x:v>2</x:v></x:c><x:c t="inlineStr"><x:is><x:t>in</x:t></x:is></x:c>'
            '<c><v>1</v></c></x:row>')
    data = sheet(body.replace("<sheetData>", ""), root=f'<x:worksheet xmlns:x="{NS}">', end="</x:worksheet>")
    data = data.replace(b"<sheetData>", b"<x:sheetData>").replace(b"</sheetData>", b"</x:sheetData>")
    assert check(data)[1] == ("山田 太郎\tin", "", "")
    other = data.replace(f'xmlns:x="{NS}"'.encode(), b'xmlns:x="urn:not-spreadsheetml"')
    assert check(other)[1] == ("", "", "")


def test_strict_namespace_reads_nothing_like_lxml():
    data = sheet(CASES["shared strings"], root='<worksheet xmlns="http://purl.oclc.org/ooxml/spreadsheetml/main">')
    assert check(data)[1] == ("", "", "")


@pytest.mark.parametrize("body", [
    '<row><c><v>1</v><c><v>2</v></c></c></row>',  # a cell inside a cell
    '<row><c t="s"><v>1</v><row/></c></row>',  # lxml releases the inner row and loses the value
    '<row><c t="s"><row/><v>1</v></c></row>',
    '<row><c t="s"><v>１</v></c></row>',  # int() of non-ASCII digits
    '<row><c t="s"><v>²</v></c></row>',  # isdigit() but not int(): ValueError on both paths
], ids=["cell in cell", "row in cell", "row before value", "fullwidth index", "superscript index"])
def test_left_to_lxml(body):
    check(sheet(body), handled=False)


def test_strings_of_another_type_left_to_lxml():
    check(sheet('<row><c t="s"><v>0</v></c></row>'), strings=[b"x"], handled=False)  # type: ignore[list-item]


def test_openpyxl_workbook_sheets():
    rows = [["氏名", "電話", "売上", "可否"], ["山田 太郎", "03-1234-5678", 1200, True],
            ["佐藤 花子", None, 3.5, False], [None, None, None, None], ["=A2&B2", -3.0, 42.0, 1e3],
            ["A&B <x> \"q\"", "改行\r\nあり", 0.1, "x\ty"]]
    data = xlsx({"顧客一覧": rows, "空": [], "隠し": [["原価", 800]]}, header="極秘", footer="社外秘")
    zf = zipfile.ZipFile(io.BytesIO(data))
    package = office._Package(zf, "w.xlsx", Context(Limits()))
    strings = office._shared_strings(package, "xl/workbook.xml")
    names = [n for n in zf.namelist() if n.startswith("xl/worksheets/sheet")]
    assert len(names) == 3
    for name in names:
        check(zf.read(name), strings)


# -- (c) damaged input ------------------------------------------------------------------------------


def test_truncated_everywhere():
    data = sheet(CASES["inline rich text and furigana"] + CASES["comments and pis"] + CASES["cdata"], TAIL)
    for n in range(len(data) + 1):
        check(data[:n], handled=None)


@pytest.mark.parametrize("data", [
    sheet('<row><c><v>1</v></row>'),
    sheet('<row><c><v>1</c></v></row>'),
    sheet('<row></Row>'),
    sheet('<row><c><v>1</v></c></row>').decode().encode("utf-16"),
    sheet('<row><c><v>1</v></c></row>', decl='<?xml version="1.0" encoding="UTF-16"?>'),
    sheet('<row><c><v>1</v></c></row>', decl='<?xml version="1.0" encoding="ISO-8859-1"?>'),
    sheet('<row><c><v>&e;</v></c></row>', decl='<!DOCTYPE worksheet [<!ENTITY e "secret">]>'),
    sheet('<row><c><v>&e;</v></c></row>'),
    sheet('<row><c t="<"><v>1</v></c></row>'),
    sheet('<row><c><v>a & b</v></c></row>'),
    sheet('<row><c><v>a ]]> b</v></c></row>'),
    sheet('<row><c a="1" a="2"><v>1</v></c></row>'),
    sheet('<row><y:c><v>1</v></y:c></row>'),
    sheet('<row><c xmlns:p=""><v>1</v></c></row>'),
    sheet('<row><c xmlns:p="http://a b"><v>1</v></c></row>'),
    sheet('<row><c><!-- a -- b --><v>1</v></c></row>'),
    sheet('<row><c><v>1</v></c></row>') + b"<extra/>",
    sheet('<row><c><v>1</v></c></row>', decl=" <?xml version='1.0'?>"),
    sheet('<row><c><v>\x01</v></c></row>'),
    sheet('<row><c><v>&#0;</v></c></row>'),
    sheet('<row><c><v>1</v></c></row>').replace(b"<v>1", b"<v>\xff"),
    sheet('<row><c><v>1</v></c></row>').replace(b"<v>1", b"<v>\xed\xa0\x80"),
    sheet('<row><c x="1"y="2"><v>1</v></c></row>'),
    sheet('<row><c><v>1</v></c></row><?xml version="1.0"?>'),
    b"",
    b"   ",
    b"<a",
])
def test_damaged_like_lxml(data):
    check(data, handled=False)


def test_deep_documents_left_to_lxml():
    deep = sheet("<x>" * 300 + "</x>" * 300)
    assert check(deep, handled=False)[0] == "corrupt"  # lxml: excessive depth
    check(sheet("<x>" * 90 + '<row><c><v>1</v></c></row>' + "</x>" * 90))


def test_random_documents():
    """Random element soup and byte damage: never a crash, always the lxml outcome."""
    rng = random.Random(20261126)
    pieces = ["<row>", "</row>", "<c>", '<c t="s">', '<c t="b">', '<c t="inlineStr">', "</c>", "<v>", "</v>",
              "<is>", "</is>", "<t>", "</t>", "<rPh>", "</rPh>", "<r>", "</r>", "0", "1", "3", "42.0", " ", "\r\n",
              "&amp;", "&#13;", "あ",
              "<![CDATA[x]]>", "<!--c-->", "<?p q?>", "<oddHeader>", "</oddHeader>", "<evenFooter>", "</evenFooter>",
              '<o:c xmlns:o="urn:o">', "</o:c>", "<v/>", "<c/>", "<row/>", "&", "<", "]]>"]
    handled = 0
    for _ in range(1500):
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        data = sheet(body)
        if rng.random() < 0.3:
            k = rng.randrange(len(data))
            data = data[:k] + bytes([rng.randrange(256)]) + data[k + 1:]
        check(data, handled=None)
        handled += _xlsx.sheet_text(data, STRINGS) is not None
    assert handled > 0


# -- end to end -------------------------------------------------------------------------------------


def _extract_both(data: bytes, name: str, monkeypatch) -> tuple:
    found = []
    for flag in (True, False):
        monkeypatch.setattr(office, "COMPILED_SHEETS", flag)
        result = extract(data, name)
        found.append(([(p.path, p.text, p.format, p.meta) for p in result.parts], result.problems))
    return found[0], found[1]


def test_extract_same_with_and_without_compiled_reader(monkeypatch):
    rows = [["氏名", "電話", "売上"], ["山田 太郎", "03-1234-5678", 1200], ["佐藤 花子", "090-1111-2222", 3.5]]
    data = xlsx({"顧客一覧": rows, "隠し": [["原価", 800]]}, header="極秘", footer="社外秘")
    compiled, lxml_only = _extract_both(data, "x.xlsx", monkeypatch)
    assert compiled == lxml_only
    assert "山田 太郎\t03-1234-5678\t1200" in compiled[0][0][1]


def test_extract_damaged_sheet_same_problem(monkeypatch):
    data = xlsx({"a": [["x", 1]]})
    zf = zipfile.ZipFile(io.BytesIO(data))
    members = {n: zf.read(n) for n in zf.namelist()}
    sheet_name = next(n for n in members if n.startswith("xl/worksheets/sheet"))
    members[sheet_name] = members[sheet_name][:-20]
    compiled, lxml_only = _extract_both(zip_of(members), "x.xlsx", monkeypatch)
    assert compiled == lxml_only
    assert compiled[1]  # reported as a problem


@pytest.mark.skipif(not CORPUS.is_dir(), reason="no benchmark corpus (var/bench/scan-corpus/tree)")
def test_extract_corpus_sample_same(monkeypatch):
    for path in sorted(CORPUS.rglob("*.xlsx"))[:20]:
        compiled, lxml_only = _extract_both(path.read_bytes(), path.name, monkeypatch)
        assert compiled == lxml_only, path


def test_lxml_path_when_not_built(monkeypatch):
    monkeypatch.setattr(office, "_xlsx_c", None)
    data = sheet(CASES["shared strings"], TAIL)
    assert office._sheet_text(data, STRINGS, "p") == office._sheet_text_lxml(data, STRINGS, "p")
