"""The outbound policy: findings of the real engine in, a decision with reasons in Japanese and English out.

Texts go through a real Engine (extraction, every detector, a real fingerprint index in a temporary folder
holding one registered document per level); the policy is the catalogue's default or one built here.
"""

from __future__ import annotations

from datetime import date

import pytest

from himitsu.engine.check import Engine
from himitsu.engine.model import Finding, SecretRef
from himitsu.engine.policy import (
    ACTIONS,
    UNINSPECTABLE,
    Allowance,
    Policy,
    PolicyError,
    Rule,
    Subject,
    decide,
    default_policy,
    finding_level,
    policy_from_data,
    redact_text,
)
from tests.engine.test_extract_fixtures import zip_with_encrypted_flag

KEY = b"policy-test-key-0123456789abcdef"
TOP = "製造条件：射出成形の金型温度は二三〇度、保持圧力は一五MPa、保持時間は四二秒とし、冷却水は十八度で循環させる。"
INTERNAL = "来期の営業方針：関西地区の代理店網を三社に絞り込み、値引き率の上限を一二パーセントとする案を検討する。"
LEVELS = {1: "極秘", 2: "社外秘"}
MY_NUMBER = "マイナンバー：123456789018"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    e = Engine(index_dir=tmp_path_factory.mktemp("index"), key=KEY,
               resolve=lambda i: SecretRef(i, f"文書{i}", LEVELS[i]) if i in LEVELS else None)
    e.register(1, TOP.encode(), "top.txt")
    e.register(2, INTERNAL.encode(), "internal.txt")
    return e


def run(engine: Engine, text: str, channel: str, policy: Policy | None = None, **subject: object):
    result = engine.check_text(text)
    redactable = channel in ("ai", "api")
    return decide(policy or default_policy(), Subject(channel, redactable=redactable, **subject),  # type: ignore[arg-type]
                  result.findings, result.problems, text=text if redactable else None)


def test_default_policy_loads_with_every_action_known():
    policy = default_policy()
    assert policy.version and len(policy.rules) >= 10
    assert {r.action for r in policy.rules} <= set(ACTIONS)
    assert all(a.domains for a in policy.allowances)


def test_clean_text_is_allowed(engine):
    decision = run(engine, "明日の会議は十時からです。資料は共有フォルダにあります。", "ai")
    assert decision.action == "allow"
    assert decision.shown == () and decision.messages() == []


def test_top_secret_excerpt_is_blocked_everywhere(engine):
    for channel in ("ai", "mail", "upload", "api"):
        decision = run(engine, f"要約してください。{TOP}", channel, destinations=("a@other.example.com",))
        assert decision.action == "block", channel
        reason = decision.shown[0]
        assert reason.detector == "registered-secret" and reason.level == "極秘" and reason.rule == "top-secret"
        assert "極秘" in reason.message_ja and "Top-secret" in reason.message_en
        # the message never quotes the secret or names it
        assert "二三〇" not in reason.message_ja + reason.message_en and "文書1" not in reason.message_ja


def test_my_number_is_redacted_in_a_prompt_and_blocked_in_mail(engine):
    text = f"この申請書を確認して。{MY_NUMBER} 氏名 山田太郎"
    ai = run(engine, text, "ai")
    assert ai.action == "redact"
    assert ai.redacted is not None and "123456789018" not in ai.redacted
    assert "[REDACTED:my-number]" in ai.redacted and ai.redacted.startswith("この申請書を確認して。")
    assert ai.messages("ja") and ai.messages("en")[0].startswith("A My Number")
    mail = run(engine, text, "mail", destinations=("x@example.jp",))
    assert mail.action == "block" and mail.redacted is None
    assert mail.shown[0].rule == "my-number" and "マイナンバー" in mail.shown[0].message_ja


def test_redact_where_nothing_can_be_rewritten_blocks(engine):
    result = engine.check_text(f"確認 {MY_NUMBER}")
    decision = decide(default_policy(), Subject("ai", redactable=False), result.findings, result.problems)
    assert decision.action == "block" and decision.redacted is None
    reason = decision.shown[0]
    assert reason.rule == "my-number-ai"
    assert reason.message_ja.startswith("マイナンバー（個人番号）が含まれているため、生成AIへの入力は止められました。")
    assert reason.message_ja.endswith("（この内容は伏せ字にできないため、送信を止めました）")
    assert reason.message_en.endswith("(This content cannot be masked, so it was blocked.)")


def test_nda_allowance_applies_only_when_every_recipient_is_inside(engine):
    text = f"共有します。{INTERNAL}"
    partner = run(engine, text, "mail", destinations=("sato@partner.example.co.jp", "ito@mail.partner.example.co.jp"))
    assert partner.action == "allow"
    assert partner.reasons[0].rule == "nda-partners" and "秘密保持契約" in partner.reasons[0].message_ja
    mixed = run(engine, text, "mail", destinations=("sato@partner.example.co.jp", "x@gmail.com"))
    assert mixed.action == "warn" and mixed.shown[0].rule == "internal-mail"
    # the allowance is for 社外秘 only: top-secret content to the partner is still blocked
    top = run(engine, TOP, "mail", destinations=("sato@partner.example.co.jp",))
    assert top.action == "block"
    # and not for generative AI
    assert run(engine, text, "ai").action == "block"


def test_an_expired_allowance_no_longer_applies(engine):
    policy = Policy(rules=(Rule("r", "hold", detectors=frozenset({"registered-secret"})),),
                    allowances=(Allowance("nda", ("partner.co.jp",), until=date(2026, 3, 31)),))
    result = engine.check_text(INTERNAL)
    subject = Subject("mail", destinations=("a@partner.co.jp",))
    assert decide(policy, subject, result.findings, today=date(2026, 3, 31)).action == "allow"
    assert decide(policy, subject, result.findings, today=date(2026, 4, 1)).action == "hold"
    assert decide(policy, Subject("mail"), result.findings, today=date(2026, 3, 1)).action == "hold"  # nobody


def test_first_matching_rule_wins_and_departments_narrow(engine):
    policy = Policy(rules=(
        Rule("legal-may", "warn", detectors=frozenset({"my-number"}), departments=frozenset({"LEGAL"})),
        Rule("others", "block", detectors=frozenset({"my-number"})),
    ))
    text = f"提出用 {MY_NUMBER}"
    assert run(engine, text, "mail", policy, department="LEGAL").action == "warn"
    assert run(engine, text, "mail", policy, department="SALES").action == "block"
    assert run(engine, text, "mail", Policy()).action == "allow"  # no rule: allowed


def test_min_score_skips_weak_findings(engine):
    policy = Policy(rules=(Rule("strong", "block", detectors=frozenset({"my-number"}), min_score=0.8),))
    weak = "番号 123456789018 を参照"  # check digit only, no context word: score 0.3
    assert run(engine, weak, "mail", policy).action == "allow"
    assert run(engine, f"確認 {MY_NUMBER}", "mail", policy).action == "block"


def test_uninspectable_content_is_decided_by_policy(engine):
    broken = b"%PDF-1.7\n" + b"\x00garbage" * 50
    result = engine.check(broken, "report.pdf")
    assert result.problems
    mail = decide(default_policy(), Subject("mail"), result.findings, result.problems)
    ai = decide(default_policy(), Subject("ai"), result.findings, result.problems)
    assert (mail.action, ai.action) == ("hold", "block")
    assert mail.shown[0].detector == UNINSPECTABLE and mail.shown[0].problem is not None
    assert "確認できない" in mail.shown[0].message_ja


def test_encrypted_zip_is_ppap_in_mail(engine):
    data = zip_with_encrypted_flag({"mitsumori.txt": "見積金額".encode()}, encrypted={"mitsumori.txt"})
    result = engine.check(data, "見積.zip")
    decision = decide(default_policy(), Subject("mail", destinations=("a@b.example",)), result.findings,
                      result.problems)
    assert decision.action == "hold" and decision.shown[0].rule == "ppap"
    assert "PPAP" in decision.shown[0].message_ja


def test_markings_carry_their_level():
    f = Finding("marking", 0.9, 0, 2, "極秘", "marking.header", "", params={"level": "厳秘"})
    assert finding_level(f) == "極秘"
    assert finding_level(Finding("marking", 0.9, 0, 4, "x", "marking.body", "", params={"level": "取扱注意"})) is None
    assert finding_level(Finding("registered-secret", 0.9, 0, 4, "x", "r", "", secret=SecretRef(1, "t", "秘"))) == "秘"


def test_redact_text_merges_overlapping_spans():
    def f(start: int, end: int, detector: str = "d") -> Finding:
        return Finding(detector, 1.0, start, end, "", "", "")

    assert redact_text("abcdefghij", [f(2, 5), f(4, 7, "e"), f(8, 9)]) == "ab[REDACTED:d]h[REDACTED:d]j"
    assert redact_text("abc", []) == "abc"
    assert redact_text("abc", [f(2, 9)]) == "abc"  # a span outside the text is ignored


@pytest.mark.parametrize("data, where", [
    ({"rules": [{"id": "x", "action": "explode"}]}, "rule x"),
    ({"rules": [{"id": "y", "action": "block", "channels": ["fax"]}]}, "rule y"),
    ({"rules": ["block"]}, "rule 1"),
    ({"rules": [{"id": "z", "action": "block", "detectors": 5}]}, "rule z"),
    ({"allowances": [{"id": "a", "action": "allow"}]}, "allowance a"),
    ({"allowances": [{"id": "b", "domains": ["x.jp"], "until": "someday"}]}, "allowance b"),
    ("rules", "policy"),
])
def test_bad_policy_data_names_what_is_wrong(data, where):
    with pytest.raises(PolicyError) as caught:
        policy_from_data(data)  # type: ignore[arg-type]
    assert caught.value.where == where


def test_unknown_channel_is_refused():
    with pytest.raises(ValueError):
        Subject("fax")
