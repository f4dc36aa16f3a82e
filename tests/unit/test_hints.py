"""The texts in every language: the same entries with the same placeholders, Cisco menus and commands kept verbatim;
the language setting; the line wrapping of wide (Chinese) text."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping

import pytest

from certwatch.hints import LANGUAGES, Language, Texts, language_from_environ, texts
from certwatch.model import Cause
from certwatch.remediate import HINTS, hints, port_text, remediation, summary
from certwatch.report import display_width, wrap_wide

OTHERS = [lang for lang in LANGUAGES if lang != "en"]
EN = texts("en")

# What stays as the English Expressway and CUCM interfaces print it, in every language.
MENUS = (
    "Maintenance > Security > Trusted CA certificate",
    "Cisco Unified OS Administration > Security > Certificate Management",
    "Cisco Unified OS Administration > Security > Cipher Management",
    "Maintenance > Restart options",
    "Maintenance > Security > Ciphers",
    "Maintenance > Logging",
    "System > Time",
    "System > Server",
    "Configuration > Unified Communications > Unified CM servers",
    "Refresh servers",
    "Upload Certificate/Certificate chain",
    "xConfiguration Ciphers",
    "tomcat-trust",
    "CallManager-trust",
    "Action=Continue",
)
# `commands`, bug IDs, CVEs and Cisco doc numbers (after "doc" or its Chinese, 文档)
VERBATIM = re.compile(r"`[^`]+`|CSC[a-z]{2}\d{5}(?!\d)|CVE-\d{4}-\d+|(?:doc |\u6587\u6863)(\d{6})(?!\d)")


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def verbatim(text: str) -> set[str]:
    found = {m.group(1) or m.group(0) for m in VERBATIM.finditer(text)}
    return found | {menu for menu in MENUS if menu in text}


def has_chinese(text: str) -> bool:
    return any(unicodedata.name(c, "").startswith("CJK UNIFIED IDEOGRAPH") for c in text)


def table_pairs(lang: Language) -> list[tuple[str, Mapping[str, str], Mapping[str, str]]]:
    other = texts(lang)
    return [
        ("remediation", EN.remediation, other.remediation),
        ("report", EN.report, other.report),
        ("rules", EN.rules, other.rules),
        ("probe", EN.probe, other.probe),
    ]


# ---- the catalog and the tables ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", OTHERS)
def test_every_cause_has_the_same_hint_in_every_language(lang: Language) -> None:
    """Every cause, the same number of steps, the same placeholders in the summary and in each step, the same
    workaround policy."""
    other = texts(lang).hints
    assert set(Cause) == set(EN.hints) == set(other)
    for cause in Cause:
        en, translated = EN.hints[cause], other[cause]
        assert en.expressway_side == translated.expressway_side, cause
        assert placeholders(en.summary) == placeholders(translated.summary), cause
        assert len(en.steps) == len(translated.steps), cause
        for number, (a, b) in enumerate(zip(en.steps, translated.steps, strict=True), 1):
            assert placeholders(a) == placeholders(b), (cause, number)


@pytest.mark.parametrize("lang", OTHERS)
def test_every_table_has_the_same_keys_and_placeholders(lang: Language) -> None:
    """The remediation pieces, the text report, the rules and the probe's texts: the same keys, each with the same
    placeholders."""
    for name, en, other in table_pairs(lang):
        assert set(en) == set(other), name
        mismatched = [key for key in en if placeholders(en[key]) != placeholders(other[key])]
        assert [] == mismatched, name


def test_no_text_holds_prometheus_template_braces() -> None:
    """Prometheus expressions are filled into placeholders by the renderer; a text never carries them itself."""
    for lang in LANGUAGES:
        t = texts(lang)
        every = [h.summary for h in t.hints.values()] + [s for h in t.hints.values() for s in h.steps]
        every += [*t.remediation.values(), *t.report.values(), *t.rules.values(), *t.probe.values()]
        assert [] == [text for text in every if "{{" in text or "}}" in text or "$labels" in text], lang


@pytest.mark.parametrize("lang", OTHERS)
def test_menus_commands_and_bug_ids_stay_verbatim(lang: Language) -> None:
    """Each Cisco menu path, CLI command, bug ID, CVE and Cisco doc number of an English text is in its
    translation, unchanged."""
    other = texts(lang)
    pairs = [(f"{c}.summary", EN.hints[c].summary, other.hints[c].summary) for c in Cause]
    pairs += [
        (f"{c}.{n}", a, b)
        for c in Cause
        for n, (a, b) in enumerate(zip(EN.hints[c].steps, other.hints[c].steps, strict=True), 1)
    ]
    pairs += [(f"{name}.{key}", en[key], tr[key]) for name, en, tr in table_pairs(lang) for key in en]
    pairs = [pair for pair in pairs if pair[0] != "rules.header"]  # names its own regeneration command
    missing = [(where, sorted(verbatim(a) - verbatim(b))) for where, a, b in pairs if verbatim(a) - verbatim(b)]
    assert [] == missing
    assert sum(len(verbatim(a)) for _, a, _ in pairs) >= 50  # the check has something to check


@pytest.mark.parametrize("lang", OTHERS)
def test_translations_are_translated(lang: Language) -> None:
    """Every summary, step and remediation sentence of another language is written in it (no English left over)."""
    other = texts(lang)
    texts_ = [other.hints[c].summary for c in Cause] + [s for c in Cause for s in other.hints[c].steps]
    texts_ += [v for k, v in other.remediation.items() if k not in {"error_text", "node_separator"}]
    texts_ += [
        v
        for k, v in other.report.items()
        if k not in {"origin_ip", "node_separator", "finding"} and not k.startswith("cause")
    ]
    texts_ += list(other.rules.values())
    # the probe's report lines that are only names, numbers and certificate facts (the same in every language)
    texts_ += [v for k, v in other.probe.items() if k not in {"result", "address", "sans", "sha256"}]
    untranslated = [t for t in texts_ if not has_chinese(t) and t not in {"{depth_text}", "{ip_text}"}]
    assert [] == untranslated


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        texts("fr")  # type: ignore[arg-type]


def test_texts_know_their_language() -> None:
    assert all(isinstance(texts(lang), Texts) and texts(lang).language == lang for lang in LANGUAGES)


# ---- the lookup API ---------------------------------------------------------------------------------------------


def test_english_stays_the_default_and_the_hints_constant() -> None:
    """``summary(cause)`` and ``remediation(...)`` without ``lang`` are English, as before; ``HINTS`` is English."""
    assert HINTS is hints("en")
    for cause in Cause:
        assert summary(cause) == summary(cause, "en") == HINTS[cause].summary
        assert remediation(cause, "cucm.example.com", 8443, 1) == remediation(
            cause, "cucm.example.com", 8443, 1, lang="en"
        )


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("cause", list(Cause))
def test_remediation_renders_every_variant(cause: Cause, lang: Language) -> None:
    """Names and addresses, known and unknown ports and depths, an OpenSSL error, one cluster-wide case: every
    template is filled (no placeholder left); the workaround comes last, only for an enforced failure of
    Expressway-C's own verification; the cluster-wide step second."""
    for origin in ("cucm-pub.example.com", "10.10.10.11", "2001:db8::11"):
        for port in (6972, None):
            for depth in (None, 0, 2):
                steps = remediation(cause, origin, port, depth, "some error", lang=lang)
                assert steps
                assert not any(re.search(r"\{[a-z_]+\}", step) for step in steps), steps
                assert port_text(port, lang) in "".join(steps) or cause is Cause.EXPIRED
                at_risk = remediation(cause, origin, port, depth, "some error", enforced=False, lang=lang)
                workaround = texts(lang).remediation["workaround"]
                assert workaround not in at_risk
                assert (steps[-1] == workaround) == hints(lang)[cause].expressway_side
    wide = remediation(cause, "cucm-pub.example.com", 8443, cluster_wide_nodes=("a", "b"), cluster="lon", lang=lang)
    plain = remediation(cause, "cucm-pub.example.com", 8443, lang=lang)
    assert wide[:1] + wide[2:] == plain
    assert "a, b" in wide[1]
    assert "lon" in wide[1]


def test_chinese_uses_the_seed_articles_terms() -> None:
    """The Chinese catalog speaks like Cisco doc 218018's Chinese edition."""
    zh = texts("zh-CN")
    every = "".join([h.summary + "".join(h.steps) for h in zh.hints.values()] + list(zh.remediation.values()))
    terms = ("证书", "自签名证书", "证书链", "根CA", "中间CA", "受信任", "信任库", "CN或SAN名称", "FQDN或IP", "深度")
    for term in terms:
        assert term in every, term


# ---- the language setting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh-CN"),
        ({"LANG": "zh_CN"}, "zh-CN"),
        ({"LANG": "zh_CN.GB18030"}, "zh-CN"),
        ({"LANG": "zh-Hans"}, "zh-CN"),
        ({"LANG": "zh_Hans_CN.UTF-8"}, "zh-CN"),
        ({"LANG": "zh_TW.UTF-8"}, "en"),
        ({"LANG": "zh_HK.UTF-8"}, "en"),
        ({"LANG": "zh_CNX"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "zh_CN.UTF-8"}, "zh-CN"),  # LC_ALL wins
        ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"),
        ({"LANG": "zh_CN.UTF-8", "LC_ALL": ""}, "zh-CN"),  # empty: not set
    ],
)
def test_language_from_the_locale(environ: dict[str, str], expected: str) -> None:
    assert expected == language_from_environ(environ)


# ---- wrapping wide text ------------------------------------------------------------------------------------------

CLOSING = "\uff0c\u3002\u3001\uff1b\uff1a\uff09"  # full-width , . 、 ; : )


@pytest.mark.parametrize("cause", list(Cause))
def test_wide_wrapping_keeps_every_character_and_the_width(cause: Cause) -> None:
    """Every Chinese step wrapped at 110 columns (the report's width): nothing lost but the spaces at breaks, no
    line wider than the width unless one unbreakable run is, no line starts with closing punctuation, and
    `commands` stay on one line."""
    for step in remediation(cause, "cucm-sub1.example.com", 6972, 1, "self signed certificate", lang="zh-CN"):
        lines = wrap_wide(step, 110, initial_indent="      1. ", subsequent_indent="         ")
        body = [line.removeprefix("      1. ") if i == 0 else line[9:] for i, line in enumerate(lines)]
        assert "".join(body).replace(" ", "") == step.replace(" ", "")
        for line in lines:
            assert display_width(line) <= 110 or " " not in line.strip(), line
        assert not any(line[9:10] and line[9:10] in CLOSING for line in lines[1:]), lines
        for command in re.findall(r"`[^`]+`", step):
            assert any(command in line for line in lines), command


def test_wide_wrapping_counts_two_columns_per_wide_character() -> None:
    text = "\u8bc1" * 30  # 证 x 30: 60 columns
    assert ["\u8bc1" * 10] * 3 == wrap_wide(text, 20)
    assert ["ab " + "\u8bc1" * 8, "\u8bc1" * 10, "\u8bc1" * 10, "\u8bc1" * 2] == wrap_wide("ab " + text, 20)
    assert [] == wrap_wide("", 20)
    assert ["x" * 30] == wrap_wide("x" * 30, 20)  # a narrow run is never cut
