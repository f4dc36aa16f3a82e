"""``certwatch probe`` against real TLS servers on 127.0.0.1: ``openssl s_server`` processes serving certificates
made by the test with the ``openssl`` command (:mod:`origins`), a closed port and a socket that never answers.

One ``certwatch probe --format json`` run probes every origin at once (as an administrator would, with the trust
list and Expressway-C's client certificate); each test then checks one origin's cause, depth and facts.
"""

# ruff: noqa: RUF001 - the Chinese report is written with full-width punctuation, as meant

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from origins import NAME, OriginPki, closed_port, make_origin_pki, s_server, silent_server

from certwatch.hints import Language
from certwatch.model import Cause
from certwatch.probe.model import ProbeSettings, Target
from certwatch.probe.run import probe
from certwatch.remediate import remediation, summary

TIMEOUT = "2"  # seconds per connection: the silent origin costs this once


def certwatch(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "certwatch", "probe", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)


def openssl_fingerprint(cert: Path) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(cert)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return out.strip().split("=", 1)[1]


def servers(pki: OriginPki) -> dict[str, list[str | Path]]:
    """s_server options per origin."""
    chain = ["-cert_chain", pki.intermediate]

    def serve(leaf: Any, *extra: str | Path) -> list[str | Path]:
        return ["-cert", leaf.cert, "-key", leaf.key, *extra]

    return {
        "trusted": serve(pki.good, *chain),
        "self_signed": serve(pki.self_signed_ecdsa),
        "missing_intermediate": serve(pki.good),
        "expired": serve(pki.expired, *chain),
        "not_yet_valid": serve(pki.not_yet_valid, *chain),
        "wrong_san": serve(pki.wrong_san, *chain),
        "rsa_1024": serve(pki.weak, *chain, "-cipher", "DEFAULT:@SECLEVEL=0"),
        "client_cert_refused": serve(
            pki.good, *chain, "-Verify", "1", "-verify_return_error", "-CAfile", pki.other_root
        ),
        "client_cert_accepted": serve(pki.good, *chain, "-Verify", "1", "-verify_return_error", "-CAfile", pki.root),
        "x14_2": serve(pki.good, *chain, "-dcert", pki.self_signed_ecdsa.cert, "-dkey", pki.self_signed_ecdsa.key),
        # TLS 1.2 and one suite Expressway-C's string removes (-AES256+SHA): only the RSA-only offer is served
        "no_common_cipher": serve(pki.good, *chain, "-no_tls1_3", "-cipher", "ECDHE-RSA-AES256-SHA"),
    }


@pytest.fixture(name="pki", scope="module")
def fixture_pki(tmp_path_factory: pytest.TempPathFactory) -> OriginPki:
    return make_origin_pki(tmp_path_factory.mktemp("origins"))


@pytest.fixture(name="ports", scope="module")
def fixture_ports(pki: OriginPki) -> Iterator[dict[str, int]]:
    with ExitStack() as stack:
        ports = {name: stack.enter_context(s_server(pki.directory, *args)) for name, args in servers(pki).items()}
        ports["closed_port"] = stack.enter_context(closed_port())
        ports["silent"] = stack.enter_context(silent_server())
        yield ports


@pytest.fixture(name="probed", scope="module")
def fixture_probed(pki: OriginPki, ports: dict[str, int]) -> dict[str, dict[str, Any]]:
    """``certwatch probe --format json`` over every origin, by NAME through ``--resolve``; plus the trusted
    origin by IP (``ip_not_in_san``). Results keyed by origin."""
    args: list[str | Path] = ["--format", "json", "--timeout", TIMEOUT, "--ca-file", pki.root]
    args += ["--client-cert", pki.client.cert, "--client-key", pki.client.key]
    for port in ports.values():
        args += ["--resolve", f"{NAME}:{port}:127.0.0.1"]
    args += [f"{NAME}:{port}" for port in ports.values()] + [f"127.0.0.1:{ports['trusted']}"]
    done = certwatch(*args)
    assert 0 == done.returncode, done.stderr
    results = json.loads(done.stdout)["results"]
    by_port = {port: name for name, port in ports.items()}
    out = {by_port[r["port"]] if r["origin"] == NAME else "ip_not_in_san": r for r in results}
    assert len(results) == len(out) == len(ports) + 1
    return out


# what each origin must get: ok, cause, depth and the start of the OpenSSL error text
EXPECTED = {
    "trusted": (True, None, None, None),
    "self_signed": (False, "untrusted_self_signed", 0, "self-signed certificate"),
    "missing_intermediate": (False, "untrusted_chain", 0, "unable to get local issuer certificate"),
    "expired": (False, "expired", 0, "certificate has expired"),
    "not_yet_valid": (False, "not_yet_valid", 0, "certificate is not yet valid"),
    "wrong_san": (False, "name_mismatch", 0, "hostname mismatch"),
    "ip_not_in_san": (False, "name_mismatch", 0, "IP address mismatch"),
    "rsa_1024": (False, "weak_crypto", 0, "EE certificate key too weak"),
    "client_cert_refused": (False, "peer_rejected_client_cert", None, "tlsv1 alert unknown ca"),
    "client_cert_accepted": (True, None, None, None),
    "x14_2": (False, "untrusted_self_signed", 0, "self-signed certificate"),
    "no_common_cipher": (False, "handshake_failure", None, "alert handshake failure"),
    "closed_port": (False, None, None, "connect: refused"),
    "silent": (False, None, None, "connect: timeout"),
}


@pytest.mark.parametrize("origin", list(EXPECTED))
def test_each_origin_gets_its_cause_and_depth(probed: dict[str, dict[str, Any]], origin: str) -> None:
    """The verdict Expressway-C's Traffic Server would reach, with OpenSSL's own error text and depth, and the
    catalog's summary and steps for every certificate cause."""
    r = probed[origin]
    ok, cause, depth, error = EXPECTED[origin]
    assert (ok, cause, depth) == (r["ok"], r["cause"], r["depth"])
    if error is None:
        assert r["error"] is None
    else:
        assert error.lower() in r["error"].lower(), r["error"]  # "sslv3 alert ..." or "tls alert ...": versions
    assert r["address"] == "127.0.0.1"
    if cause is not None:
        assert r["summary"]
        assert r["remediation"]
    if ok:
        assert (None, []) == (r["summary"], r["remediation"])


def test_contract_keys(probed: dict[str, dict[str, Any]]) -> None:
    """Every result carries the documented keys; every certificate and offer too."""
    keys = {"origin", "port", "address", "ok", "cause", "depth", "error", "tls_version", "cipher", "chain"}
    keys |= {"chain_complete", "offers", "x14_2_trap", "summary", "remediation"}
    chain_keys = {"depth", "subject", "issuer", "sans", "not_before", "not_after", "key_type", "key_bits"}
    chain_keys |= {"signature_algorithm", "sha256"}
    for r in probed.values():
        assert keys == set(r)
        assert {"preferred", "ecdsa", "rsa"} == set(r["offers"])
        for offer in r["offers"].values():
            assert offer is None or {"ok", "cause", "depth", "key_type", "sha256"} == set(offer)
        for depth, cert in enumerate(r["chain"]):
            assert chain_keys == set(cert)
            assert depth == cert["depth"]


def test_trusted_origin_facts(pki: OriginPki, probed: dict[str, dict[str, Any]]) -> None:
    """The certificate facts of the whole chain served, checked against openssl's own reading."""
    r = probed["trusted"]
    assert r["tls_version"] == "TLSv1.3"
    assert r["cipher"]
    assert r["chain_complete"] is True
    leaf, intermediate = r["chain"]
    assert leaf["subject"] == f"CN={NAME}"
    assert leaf["issuer"] == "CN=certwatch probe intermediate CA"
    assert leaf["sans"] == [f"DNS:{NAME}"]
    assert (leaf["key_type"], leaf["key_bits"]) == ("RSA", 2048)
    assert leaf["signature_algorithm"] == "sha256WithRSAEncryption"
    assert leaf["sha256"] == openssl_fingerprint(pki.good.cert)
    assert leaf["not_before"] < leaf["not_after"]
    assert intermediate["subject"] == "CN=certwatch probe intermediate CA"
    assert intermediate["issuer"] == "CN=certwatch probe root CA"
    assert intermediate["sans"] == []
    assert intermediate["sha256"] == openssl_fingerprint(pki.intermediate)
    # an RSA-only origin: the ECDSA-only offer is refused, the others get the RSA leaf and verify
    assert r["offers"]["ecdsa"] is None
    for name in ("preferred", "rsa"):
        assert {"ok": True, "cause": None, "depth": None, "key_type": "RSA", "sha256": leaf["sha256"]} == r["offers"][
            name
        ]
    assert r["x14_2_trap"] is False


def test_self_signed_origin_facts(pki: OriginPki, probed: dict[str, dict[str, Any]]) -> None:
    r = probed["self_signed"]
    (leaf,) = r["chain"]
    assert (leaf["key_type"], leaf["key_bits"], leaf["signature_algorithm"]) == ("ECDSA", 256, "ecdsa-with-SHA256")
    assert leaf["subject"] == leaf["issuer"] == f"CN={NAME}"
    assert leaf["sha256"] == openssl_fingerprint(pki.self_signed_ecdsa.cert)
    assert r["chain_complete"] is True  # nothing else to send
    assert r["offers"]["rsa"] is None  # no RSA certificate to serve
    assert r["offers"]["ecdsa"]["cause"] == "untrusted_self_signed"
    assert r["x14_2_trap"] is False  # no RSA certificate that verifies: not the X14.2 trap
    assert r["remediation"][0].startswith(f"{NAME} (port {r['port']}) presents a self-signed certificate")


def test_missing_intermediate_is_an_incomplete_chain(probed: dict[str, dict[str, Any]]) -> None:
    r = probed["missing_intermediate"]
    assert len(r["chain"]) == 1
    assert r["chain_complete"] is False
    assert r["chain"][0]["issuer"] == "CN=certwatch probe intermediate CA"


def test_validity_facts(probed: dict[str, dict[str, Any]]) -> None:
    expired, future, trusted = probed["expired"], probed["not_yet_valid"], probed["trusted"]
    assert expired["chain"][0]["not_after"] < trusted["chain"][0]["not_before"]
    assert future["chain"][0]["not_before"] > trusted["chain"][0]["not_before"]
    assert expired["chain_complete"] is future["chain_complete"] is True


def test_wrong_san_and_weak_key_facts(probed: dict[str, dict[str, Any]]) -> None:
    assert probed["wrong_san"]["chain"][0]["sans"] == ["DNS:other.example.test"]
    assert (probed["rsa_1024"]["chain"][0]["key_type"], probed["rsa_1024"]["chain"][0]["key_bits"]) == ("RSA", 1024)
    assert any("IP (127.0.0.1)" in step for step in probed["ip_not_in_san"]["remediation"])


def test_refused_client_certificate_is_the_origin_side(probed: dict[str, dict[str, Any]]) -> None:
    """The origin trusts another CA than the one of our client certificate: its alert is the cause (our own
    verification of its certificate passed), and the fix is on the CUCM side."""
    r = probed["client_cert_refused"]
    assert r["tls_version"] == "TLSv1.3"  # the alert came after our side of the handshake had ended
    assert len(r["chain"]) == 2
    assert r["offers"]["rsa"]["cause"] == "peer_rejected_client_cert"  # TLS 1.2: the alert ends the handshake
    assert "tomcat-trust" in " ".join(r["remediation"])
    assert not any("VerifyOriginServer" in step for step in r["remediation"])


def test_x14_2_dual_certificate_origin_is_named(pki: OriginPki, probed: dict[str, dict[str, Any]]) -> None:
    """RSA CA-signed and ECDSA self-signed on one port: the ECDSA-first offer and the ECDSA-only offer get the
    self-signed ECDSA leaf, the RSA-only offer the trusted RSA one; the hint names the X14.2 trap."""
    r = probed["x14_2"]
    ecdsa, rsa = openssl_fingerprint(pki.self_signed_ecdsa.cert), openssl_fingerprint(pki.good.cert)
    offers = r["offers"]
    assert ("ECDSA", ecdsa, False, "untrusted_self_signed") == (
        offers["preferred"]["key_type"], offers["preferred"]["sha256"], offers["preferred"]["ok"],
        offers["preferred"]["cause"],
    )  # fmt: skip
    assert (offers["ecdsa"]["key_type"], offers["ecdsa"]["sha256"]) == ("ECDSA", ecdsa)
    assert {"ok": True, "cause": None, "depth": None, "key_type": "RSA", "sha256": rsa} == offers["rsa"]
    assert r["x14_2_trap"] is True
    assert r["summary"].startswith("X14.2 ECDSA trap: ")
    assert r["remediation"][0].startswith("X14.2 ECDSA trap: ")
    assert "ECDHE-RSA-AES256-GCM-SHA384:" in r["remediation"][0]
    assert r["chain"][0]["sha256"] == ecdsa  # the facts are those of the preferred handshake


def test_no_common_cipher_is_a_handshake_failure(probed: dict[str, dict[str, Any]]) -> None:
    """The ECDSA-first offer is refused: no certificate, no facts; the RSA-only offer shows what the origin
    would serve."""
    r = probed["no_common_cipher"]
    assert ([], None, None, None) == (r["chain"], r["tls_version"], r["offers"]["preferred"], r["offers"]["ecdsa"])
    assert r["offers"]["rsa"]["ok"] is True
    assert "Ciphers" in " ".join(r["remediation"])


def test_unreachable_origins_have_no_certificate_facts(probed: dict[str, dict[str, Any]]) -> None:
    for origin in ("closed_port", "silent"):
        r = probed[origin]
        assert ([], None, None) == (r["chain"], r["tls_version"], r["chain_complete"])
        assert {"preferred": None, "ecdsa": None, "rsa": None} == r["offers"]


def test_text_report_names_the_trap(pki: OriginPki, ports: dict[str, int]) -> None:
    port = ports["x14_2"]
    done = certwatch("--ca-file", pki.root, "--resolve", f"{NAME}:{port}:127.0.0.1", f"{NAME}:{port}")
    assert 0 == done.returncode, done.stderr
    assert done.stdout.startswith("certwatch probe: 1 origin: 0 ok, 1 failing, 0 unreachable\n")
    assert f"{NAME}:{port} (127.0.0.1): FAIL untrusted_self_signed: self-signed certificate at depth 0" in done.stdout
    assert "fix: X14.2 ECDSA trap: " in done.stdout
    assert "    rsa       RSA " in done.stdout


def self_signed_args(pki: OriginPki, ports: dict[str, int], *extra: str) -> list[str | Path]:
    port = ports["self_signed"]
    return [*extra, "--ca-file", pki.root, "--resolve", f"{NAME}:{port}:127.0.0.1", f"{NAME}:{port}"]


def test_chinese_text_report(pki: OriginPki, ports: dict[str, int]) -> None:
    """--lang zh-CN: the report's words, the summary and the steps in Chinese; names, causes, OpenSSL's error and
    the certificate facts as they are."""
    port = ports["self_signed"]
    done = certwatch(*self_signed_args(pki, ports, "--lang", "zh-CN"))
    assert 0 == done.returncode, done.stderr
    lines = done.stdout.splitlines()
    assert "certwatch probe：1个源服务器：0个正常，1个失败，0个无法连接" == lines[0]
    assert f"{NAME}:{port} (127.0.0.1)：失败 untrusted_self_signed：self-signed certificate（深度0）" == lines[2]
    assert "  发送的证书链（完整）：" in lines
    assert f"        颁发者 CN={NAME}（自签名）" in lines
    assert "    rsa       被拒绝" in lines
    assert f"  解决方法：{summary(Cause.UNTRUSTED_SELF_SIGNED, 'zh-CN')}" in lines
    first = remediation(Cause.UNTRUSTED_SELF_SIGNED, NAME, port, 0, "self-signed certificate", lang="zh-CN")[0]
    assert first.startswith(f"{NAME}（端口{port}）提供的是自签名证书")
    assert first[:20] in done.stdout


def test_chinese_json_changes_only_the_summary_and_steps(pki: OriginPki, ports: dict[str, int]) -> None:
    """--format json --lang zh-CN: the same document as in English (keys, cause, error, facts, offers), but the
    summary and the steps are the catalog's Chinese ones."""
    english = certwatch(*self_signed_args(pki, ports, "--format", "json"))
    chinese = certwatch(*self_signed_args(pki, ports, "--format", "json", "--lang", "zh-CN"))
    assert (0, 0) == (english.returncode, chinese.returncode), english.stderr + chinese.stderr
    (en,), (zh,) = json.loads(english.stdout)["results"], json.loads(chinese.stdout)["results"]
    port = ports["self_signed"]
    assert "untrusted_self_signed" == zh["cause"]
    assert summary(Cause.UNTRUSTED_SELF_SIGNED, "zh-CN") == zh["summary"]
    expected = remediation(Cause.UNTRUSTED_SELF_SIGNED, NAME, port, 0, zh["error"], lang="zh-CN")
    assert expected == zh["remediation"]
    assert summary(Cause.UNTRUSTED_SELF_SIGNED) == en["summary"]
    unchanged = set(en) - {"summary", "remediation"}
    assert {k: en[k] for k in unchanged} == {k: zh[k] for k in unchanged}


@pytest.mark.parametrize(
    ("locale", "lang", "expected"),
    [("zh_CN.UTF-8", None, "zh-CN"), ("zh_CN.UTF-8", "en", "en"), ("en_US.UTF-8", None, "en")],
)
def test_the_locale_chooses_the_default_language(
    pki: OriginPki, ports: dict[str, int], locale: str, lang: str | None, expected: Language
) -> None:
    """Without --lang, LANG=zh_CN.UTF-8 gives the Chinese report (as for analyze); --lang en overrides it."""
    env = {k: v for k, v in os.environ.items() if k not in {"LC_ALL", "LANG"}} | {"LANG": locale}
    done = certwatch(*self_signed_args(pki, ports, *(["--lang", lang] if lang else [])), env=env)
    assert 0 == done.returncode, done.stderr
    headline = {"zh-CN": "certwatch probe：1个源服务器：", "en": "certwatch probe: 1 origin: "}[expected]
    assert done.stdout.startswith(headline), done.stdout[:200]
    assert f"{summary(Cause.UNTRUSTED_SELF_SIGNED, expected)}\n" in done.stdout


def test_the_probe_function_for_the_daemon(pki: OriginPki, ports: dict[str, int]) -> None:
    """The blocking API the daemon uses: one Target, settings, one ProbeResult."""
    settings = ProbeSettings(ca_file=pki.root, timeout=2.0)
    result = probe(Target(NAME, ports["trusted"], "127.0.0.1"), settings)
    assert (True, None) == (result.ok, result.cause)
    result = probe(Target(NAME, ports["expired"], "127.0.0.1"), settings)
    assert (False, Cause.EXPIRED, 0) == (result.ok, result.cause, result.depth)
    assert result.to_json()["cause"] == "expired"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ca-file", "/nonexistent/ca.pem", "x.example.test:8443"], "--ca-file /nonexistent/ca.pem"),
        (["--client-cert", "{cert}", "x.example.test:8443"], "--client-cert and --client-key go together"),
        (["--client-cert", "{cert}", "--client-key", "{other_key}", "x.example.test:8443"], "is not the key of"),
        (["--ca-file", "{key}", "x.example.test:8443"], "no PEM certificate"),
        (["x.example.test"], "expected NAME:PORT"),
        (["x.example.test:0"], "is not 1..65535"),
        (["--resolve", "x.example.test:8443:not-an-ip", "x.example.test:8443"], "is not an IP address"),
        (["--timeout", "0", "x.example.test:8443"], "--timeout"),
    ],
    ids=["missing-ca", "cert-without-key", "key-mismatch", "ca-not-pem", "no-port", "bad-port", "bad-resolve",
         "zero-timeout"],
)  # fmt: skip
def test_usage_and_configuration_errors_exit_2(pki: OriginPki, args: list[str], message: str) -> None:
    """Nothing is probed: one line on standard error, exit status 2."""
    paths = {"cert": pki.client.cert, "key": pki.client.key, "other_key": pki.good.key}
    done = certwatch(*(a.format(**paths) for a in args))
    assert (2, "") == (done.returncode, done.stdout)
    assert message in done.stderr
    assert done.stderr.startswith("certwatch: error: ")
