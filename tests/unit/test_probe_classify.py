"""certwatch.probe.classify, .command (arguments), .run (error mapping) and .report: the probe's pure parts."""

# ruff: noqa: RUF001 - the Chinese report is written with full-width punctuation, as meant

from __future__ import annotations

import socket

import pytest
from probe_certs import chain, make

from certwatch.model import Cause
from certwatch.probe.classify import Verdict, hint, is_x14_2_trap, offer_result, trap_step, verdict
from certwatch.probe.command import UsageError, parse_resolve, parse_target, targets
from certwatch.probe.facts import fingerprint
from certwatch.probe.handshake import Handshake
from certwatch.probe.model import CertFacts, OfferResult, ProbeResult, Target
from certwatch.probe.report import document, render_text
from certwatch.probe.run import connect_error_kind
from certwatch.remediate import remediation, summary
from certwatch.report import display_width

NAME = "cucm.example.test"
C = chain(NAME)
SERVED = (C.leaf.cert, C.intermediate.cert)


@pytest.mark.parametrize(
    ("handshake", "expected"),
    [
        (Handshake(completed=True, chain=SERVED), Verdict(True, None, None, None)),
        (
            Handshake(completed=True, chain=SERVED, verify_error="self-signed certificate", verify_depth=0),
            Verdict(False, Cause.UNTRUSTED_SELF_SIGNED, 0, "self-signed certificate"),
        ),
        (
            Handshake(completed=True, chain=SERVED, verify_error="self-signed certificate in certificate chain",
                      verify_depth=1),
            Verdict(False, Cause.UNTRUSTED_CHAIN, 1, "self-signed certificate in certificate chain"),
        ),
        (  # the chain error comes first: ATS never gets to the name check
            Handshake(completed=True, chain=(make("other").cert,), verify_error="certificate has expired",
                      verify_depth=0),
            Verdict(False, Cause.EXPIRED, 0, "certificate has expired"),
        ),
        (
            Handshake(completed=True, chain=(make("x", C.intermediate, sans=("DNS:other.example.test",)).cert,)),
            Verdict(False, Cause.NAME_MISMATCH, 0, "hostname mismatch"),
        ),
        (  # the name check comes before the origin's verdict on our client certificate
            Handshake(chain=(make("x", C.intermediate, sans=("DNS:other.example.test",)).cert,),
                      failure="tlsv1 alert unknown ca"),
            Verdict(False, Cause.NAME_MISMATCH, 0, "hostname mismatch"),
        ),
        (
            Handshake(chain=SERVED, failure="tlsv1 alert unknown ca"),
            Verdict(False, Cause.PEER_REJECTED_CLIENT_CERT, None, "tlsv1 alert unknown ca"),
        ),
        (
            Handshake(completed=True, chain=SERVED, failure="tlsv13 alert certificate required"),
            Verdict(False, Cause.PEER_REJECTED_CLIENT_CERT, None, "tlsv13 alert certificate required"),
        ),
        (
            Handshake(failure="sslv3 alert handshake failure"),
            Verdict(False, Cause.HANDSHAKE_FAILURE, None, "sslv3 alert handshake failure"),
        ),
        (Handshake(failure="wrong version number"), Verdict(False, None, None, "tls: wrong version number")),
        (Handshake(io_error="timeout"), Verdict(False, None, None, "connect: timeout")),
        (Handshake(io_error="reset"), Verdict(False, None, None, "connect: reset")),
    ],
    ids=["ok", "self-signed", "root-in-chain", "verify-before-name", "name", "name-before-alert", "peer-alert",
         "tls13-certificate-required", "no-cipher", "not-tls", "timeout", "reset"],
)  # fmt: skip
def test_verdict(handshake: Handshake, expected: Verdict) -> None:
    assert expected == verdict(handshake, NAME)


def test_offer_result_is_the_leaf_or_none() -> None:
    got = offer_result(Handshake(completed=True, chain=SERVED), NAME)
    assert OfferResult(True, None, None, "RSA", fingerprint(C.leaf.cert)) == got
    assert offer_result(Handshake(failure="sslv3 alert handshake failure"), NAME) is None
    assert offer_result(Handshake(io_error="timeout"), NAME) is None


ECDSA_BAD = OfferResult(False, Cause.UNTRUSTED_SELF_SIGNED, 0, "ECDSA", "AA:BB")
RSA_OK = OfferResult(True, None, None, "RSA", "CC:DD")


@pytest.mark.parametrize(
    ("preferred", "rsa", "trap"),
    [
        (ECDSA_BAD, RSA_OK, True),
        (OfferResult(False, Cause.EXPIRED, 0, "ECDSA", "AA:BB"), RSA_OK, True),  # any certificate cause
        (ECDSA_BAD, None, False),  # no RSA certificate
        (ECDSA_BAD, OfferResult(False, Cause.UNTRUSTED_CHAIN, 0, "RSA", "CC:DD"), False),  # both fail
        (OfferResult(False, Cause.UNTRUSTED_CHAIN, 0, "RSA", "CC:DD"), RSA_OK, False),  # RSA preferred already
        (OfferResult(False, Cause.PEER_REJECTED_CLIENT_CERT, None, "ECDSA", "AA"), RSA_OK, False),  # not the cert
        (OfferResult(True, None, None, "ECDSA", "AA"), RSA_OK, False),
        (None, RSA_OK, False),
    ],
)
def test_x14_2_trap(preferred: OfferResult | None, rsa: OfferResult | None, trap: bool) -> None:
    assert trap is is_x14_2_trap(preferred, rsa)


def test_hints() -> None:
    assert hint(Verdict(True, None, None, None), NAME, 8443, "10.0.0.1") == hint(
        Verdict(True, None, None, None), NAME, 8443, None
    )
    ok = hint(Verdict(True, None, None, None), NAME, 8443, None)
    assert (None, ()) == (ok.summary, ok.steps)
    expired = hint(Verdict(False, Cause.EXPIRED, 0, "certificate has expired"), NAME, 8443, "10.0.0.1")
    assert summary(Cause.EXPIRED) == expired.summary
    assert "VerifyOriginServer" in expired.steps[-1]
    step = trap_step(NAME, 6972, ECDSA_BAD)
    assert step.startswith(f"X14.2 ECDSA trap: {NAME} (port 6972) serves two certificates.")
    assert "self-signed ECDSA certificate" in step
    assert "ECDHE-RSA-AES256-GCM-SHA384:" in step
    trapped = hint(Verdict(False, Cause.UNTRUSTED_SELF_SIGNED, 0, "x"), NAME, 6972, None, step)
    assert trapped.summary == f"X14.2 ECDSA trap: {summary(Cause.UNTRUSTED_SELF_SIGNED)}"
    assert trapped.steps[0] == step
    assert [step] == [s for s in trapped.steps if "ECDHE-RSA-AES256-GCM-SHA384:" in s]
    refused = hint(Verdict(False, None, None, "connect: refused"), NAME, 8443, "10.0.0.1")
    assert refused.summary == "Cannot connect to the origin (refused)"
    assert "10.0.0.1 port 8443" in refused.steps[0]
    plain = hint(Verdict(False, None, None, "tls: wrong version number"), NAME, 8443, None)
    assert "did not answer as a TLS server (wrong version number)" in plain.steps[0]


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (socket.gaierror(-2, "Name or service not known"), "dns"),
        (ConnectionRefusedError(), "refused"),
        (TimeoutError(), "timeout"),
        (ConnectionResetError(), "reset"),
        (OSError(113, "No route to host"), "unreachable"),
        (OSError(110, "Connection timed out"), "timeout"),
    ],
)
def test_connect_errors(exc: BaseException, kind: str) -> None:
    assert kind == connect_error_kind(exc)


def test_arguments() -> None:
    assert ("cucm.example.com", 8443) == parse_target("cucm.example.com:8443")
    assert ("10.0.0.1", 6972) == parse_target("10.0.0.1:6972")
    assert ("::1", 443) == parse_target("[::1]:443")
    assert ("cucm", 8443, "10.0.0.1") == parse_resolve("cucm:8443:10.0.0.1")
    assert ("cucm", 8443, "::1") == parse_resolve("cucm:8443:[::1]")
    assert ("cucm", 8443, "fe80::1") == parse_resolve("cucm:8443:fe80::1")
    for bad in ("cucm", "cucm:", ":8443", "cucm:port", "cucm:70000", "::1:443", "[::1]"):
        with pytest.raises(UsageError):
            parse_target(bad)
    for bad in ("cucm:8443", "cucm:8443:name", ":8443:10.0.0.1"):
        with pytest.raises(UsageError):
            parse_resolve(bad)
    assert [Target("CUCM.example.com", 8443, "10.0.0.1"), Target("cucm.example.com", 6972)] == targets(
        ["CUCM.example.com:8443", "cucm.example.com:6972"], ["cucm.example.com:8443:10.0.0.1"]
    )


def test_report() -> None:
    unreachable = ProbeResult(NAME, 8443, "10.0.0.1", False, None, None, "connect: refused", summary="s",
                              remediation=("step",))  # fmt: skip
    doc = document([unreachable])
    assert {"preferred": None, "ecdsa": None, "rsa": None} == doc["results"][0]["offers"]
    assert doc["results"][0]["chain"] == []
    text = render_text([unreachable])
    assert text.startswith("certwatch probe: 1 origin: 0 ok, 0 failing, 1 unreachable\n")
    assert f"{NAME}:8443 (10.0.0.1): FAIL connect: refused\n  fix: s\n    1. step\n" in text
    ok = ProbeResult(NAME, 8443, "10.0.0.1", True, None, None, None, "TLSv1.3", "TLS_AES_256_GCM_SHA384",
                     offers={"preferred": RSA_OK, "ecdsa": None, "rsa": RSA_OK})  # fmt: skip
    text = render_text([ok, unreachable])
    assert "2 origins: 1 ok, 0 failing, 1 unreachable" in text
    assert "    ecdsa     refused\n" in text
    assert "    rsa       RSA    CC:DD  ok\n" in text


# ---- --lang zh-CN ------------------------------------------------------------------------------------------------


def test_hints_in_chinese() -> None:
    """The catalog's summary and steps in the language asked for; the probe's own texts (the X14.2 trap, connection
    and TLS problems) from the ``probe`` texts of that language, with the same values filled in."""
    expired = hint(Verdict(False, Cause.EXPIRED, 0, "certificate has expired"), NAME, 8443, None, lang="zh-CN")
    assert summary(Cause.EXPIRED, "zh-CN") == expired.summary
    assert tuple(remediation(Cause.EXPIRED, NAME, 8443, 0, "certificate has expired", lang="zh-CN")) == expired.steps
    step = trap_step(NAME, 6972, ECDSA_BAD, "zh-CN")
    assert step.startswith(f"X14.2 ECDSA陷阱：{NAME}（端口6972）提供两个证书。")
    assert "一个自签名的ECDSA证书（AA:BB...）" in step
    assert "`ECDHE-RSA-AES256-GCM-SHA384:`" in step
    assert "Maintenance > Security > Ciphers（xConfiguration Ciphers）" in step
    trapped = hint(Verdict(False, Cause.UNTRUSTED_SELF_SIGNED, 0, "x"), NAME, 6972, None, step, "zh-CN")
    assert f"X14.2 ECDSA陷阱：{summary(Cause.UNTRUSTED_SELF_SIGNED, 'zh-CN')}" == trapped.summary
    # the catalog's general cipher-order step is dropped in Chinese too: the trap step gives it
    assert [step] == [s for s in trapped.steps if "ECDHE-RSA-AES256-GCM-SHA384:" in s]
    refused = hint(Verdict(False, None, None, "connect: refused"), NAME, 8443, "10.0.0.1", lang="zh-CN")
    assert "无法连接到源服务器（refused）" == refused.summary
    assert refused.steps[0].startswith("10.0.0.1的端口8443上没有服务接受连接")
    dns = hint(Verdict(False, None, None, "connect: dns"), NAME, 8443, None, lang="zh-CN")
    assert dns.steps[0].startswith(f"无法解析{NAME}：")
    assert "System > Server" in dns.steps[0]
    plain = hint(Verdict(False, None, None, "tls: wrong version number"), NAME, 8443, None, lang="zh-CN")
    assert ("源服务器未完成TLS握手", f"{NAME}的端口8443没有以TLS服务器的身份应答（wrong version number）") == (
        plain.summary,
        plain.steps[0].split("：")[0],
    )


def test_english_is_the_default_language() -> None:
    """Without ``lang`` the hints and the report are English, exactly as with ``lang="en"``."""
    for v in (
        Verdict(False, Cause.UNTRUSTED_SELF_SIGNED, 0, "self-signed certificate"),
        Verdict(False, None, None, "connect: timeout"),
        Verdict(False, None, None, "tls: wrong version number"),
    ):
        assert hint(v, NAME, 6972, "10.0.0.1") == hint(v, NAME, 6972, "10.0.0.1", lang="en")
    assert trap_step(NAME, 6972, ECDSA_BAD) == trap_step(NAME, 6972, ECDSA_BAD, "en")
    result = ProbeResult(NAME, 8443, "10.0.0.1", False, None, None, "connect: refused", summary="s",
                         remediation=("step",))  # fmt: skip
    assert render_text([result]) == render_text([result], lang="en")


def test_report_in_chinese() -> None:
    """The report's own words in Chinese; names, causes, OpenSSL errors, offers and facts as they are; the steps
    wrapped by display width."""
    leaf = CertFacts(0, f"CN={NAME}", f"CN={NAME}", (f"DNS:{NAME}",), "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z",
                     "ECDSA", 256, "ecdsa-with-SHA256", "AA:BB")  # fmt: skip
    steps = remediation(Cause.UNTRUSTED_SELF_SIGNED, NAME, 8443, 0, "self-signed certificate", lang="zh-CN")
    failing = ProbeResult(
        NAME, 8443, "10.0.0.1", False, Cause.UNTRUSTED_SELF_SIGNED, 0, "self-signed certificate", "TLSv1.3",
        "TLS_AES_256_GCM_SHA384", (leaf,), True, {"preferred": ECDSA_BAD, "ecdsa": ECDSA_BAD, "rsa": None},
        summary=summary(Cause.UNTRUSTED_SELF_SIGNED, "zh-CN"), remediation=tuple(steps),
    )  # fmt: skip
    unreachable = ProbeResult(NAME, 443, None, False, None, None, "connect: timeout")
    text = render_text([failing, unreachable], lang="zh-CN")
    lines = text.splitlines()
    assert "certwatch probe：2个源服务器：0个正常，1个失败，1个无法连接" == lines[0]
    assert f"{NAME}:8443 (10.0.0.1)：失败 untrusted_self_signed：self-signed certificate（深度0）" in lines
    assert f"{NAME}:443：失败 connect: timeout" in lines
    assert "  发送的证书链（完整）：" in lines
    assert f"        颁发者 CN={NAME}（自签名）" in lines
    assert "        ECDSA 256，ecdsa-with-SHA256，有效期 2026-01-01T00:00:00Z .. 2026-01-03T00:00:00Z" in lines
    assert "    preferred ECDSA  AA:BB  untrusted_self_signed（深度0）" in lines
    assert "    rsa       被拒绝" in lines
    assert f"  解决方法：{summary(Cause.UNTRUSTED_SELF_SIGNED, 'zh-CN')}" in lines
    numbered = [line for line in lines if line.startswith("    ") and line[4:5].isdigit()]
    assert [f"    {n}. " for n in range(1, len(steps) + 1)] == [line[:7] for line in numbered]
    fix = text[text.index("  解决方法：") : text.index(f"\n\n{NAME}:443")].splitlines()[1:]
    assert "".join(line.strip() for line in fix).replace(" ", "") == "".join(
        f"{n}.{step}" for n, step in enumerate(steps, 1)
    ).replace(" ", "")
    assert all(display_width(line) <= 110 for line in fix), fix
