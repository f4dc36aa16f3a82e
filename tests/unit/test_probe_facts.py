"""certwatch.probe.facts: certificate facts, chain completeness and the name check, on certificates built in
memory."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from probe_certs import chain, ec_key, make, rsa_key

from certwatch.probe.facts import (
    HOSTNAME_MISMATCH,
    IP_MISMATCH,
    cert_facts,
    chain_complete,
    chain_facts,
    load_pem_certificates,
    name_error,
)

C = chain()


def test_facts_of_a_ca_signed_rsa_leaf() -> None:
    facts = cert_facts(C.leaf.cert, 0)
    assert facts.depth == 0
    assert facts.subject == "CN=cucm.example.test"
    assert facts.issuer == "CN=intermediate CA"
    assert facts.sans == ("DNS:cucm.example.test",)
    assert (facts.key_type, facts.key_bits) == ("RSA", 2048)
    assert facts.signature_algorithm == "sha256WithRSAEncryption"
    assert (facts.not_before, facts.not_after) == ("2026-01-02T03:04:05Z", "2026-02-01T03:04:05Z")
    assert len(facts.sha256) == 95
    assert facts.sha256 == facts.sha256.upper()
    assert facts.sha256.count(":") == 31
    assert facts.self_signed is False
    assert set(facts.to_json()) == {
        "depth", "subject", "issuer", "sans", "not_before", "not_after", "key_type", "key_bits",
        "signature_algorithm", "sha256",
    }  # fmt: skip


def test_facts_of_other_keys_and_names() -> None:
    ecdsa = cert_facts(
        make("x", sans=("DNS:a.example", "IP:10.0.0.1", "IP:::1", "email:a@b.c", "URI:https://u")).cert, 2
    )
    assert (ecdsa.key_type, ecdsa.key_bits, ecdsa.signature_algorithm) == ("ECDSA", 256, "ecdsa-with-SHA256")
    assert ecdsa.sans == ("DNS:a.example", "IP:10.0.0.1", "IP:::1", "email:a@b.c", "URI:https://u")
    assert (ecdsa.depth, ecdsa.self_signed) == (2, True)
    ed = cert_facts(make("ed", key=ed25519.Ed25519PrivateKey.generate()).cert, 0)
    assert (ed.key_type, ed.key_bits, ed.signature_algorithm) == ("Ed25519", 256, "ed25519")
    weak = cert_facts(make("weak", C.intermediate, key=rsa_key(1024)).cert, 0)
    assert (weak.key_type, weak.key_bits, weak.sans) == ("RSA", 1024, ())


def test_chain_facts_number_the_served_order() -> None:
    assert [0, 1] == [f.depth for f in chain_facts([C.leaf.cert, C.intermediate.cert])]


def test_pem_bundle_with_text_around_the_blocks() -> None:
    from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

    pem = (
        b"Subject: root\n"
        + C.root.cert.public_bytes(Encoding.PEM)
        + b"\nnotes\n"
        + C.intermediate.cert.public_bytes(Encoding.PEM)
    )
    assert [C.root.cert, C.intermediate.cert] == load_pem_certificates(pem)
    with pytest.raises(ValueError):
        load_pem_certificates(b"no certificate here")


@pytest.mark.parametrize(
    ("served", "anchors", "complete"),
    [
        ("leaf intermediate", "root", True),  # intermediates sent, root in the trust list
        ("leaf intermediate root", "", True),  # the root sent too
        ("leaf", "root intermediate", False),  # the intermediate is only in the trust list
        ("leaf", "root", False),
        ("leaf intermediate", "", False),  # the root is known nowhere
        ("intermediate leaf", "root", False),  # out of order
        ("leaf root", "root", False),  # a gap
        ("intermediate", "root", True),  # an origin whose certificate the root signed directly
        ("self_signed", "", True),
        ("", "root", None),
    ],
)
def test_chain_complete(served: str, anchors: str, complete: bool | None) -> None:
    certs = {
        "leaf": C.leaf.cert, "intermediate": C.intermediate.cert, "root": C.root.cert,
        "self_signed": make("cucm.example.test").cert,
    }  # fmt: skip
    assert complete is chain_complete([certs[n] for n in served.split()], [certs[n] for n in anchors.split()])


@pytest.mark.parametrize(
    ("sans", "name", "error"),
    [
        (("DNS:cucm.example.com",), "cucm.example.com", None),
        (("DNS:CUCM.Example.com",), "cucm.example.COM.", None),
        (("DNS:*.example.com",), "cucm.example.com", None),
        (("DNS:*.example.com",), "a.cucm.example.com", HOSTNAME_MISMATCH),
        (("DNS:*.example.com",), "example.com", HOSTNAME_MISMATCH),
        (("DNS:*.com",), "example.com", HOSTNAME_MISMATCH),
        (("DNS:cucm*.example.com",), "cucm1.example.com", HOSTNAME_MISMATCH),
        (("DNS:other.example.com",), "cucm.example.com", HOSTNAME_MISMATCH),
        (("DNS:cucm.example.com", "IP:10.10.10.11"), "10.10.10.11", None),
        (("DNS:10.10.10.11",), "10.10.10.11", IP_MISMATCH),  # an IP is looked up in the IP SANs only
        (("DNS:cucm.example.com",), "10.10.10.11", IP_MISMATCH),
        (("IP:::1",), "::1", None),
        (("IP:::1",), "[::1]", None),
        (("IP:10.10.10.11",), "cucm.example.com", HOSTNAME_MISMATCH),  # no DNS SAN: the CN is "cert"
    ],
)
def test_name_check(sans: tuple[str, ...], name: str, error: str | None) -> None:
    assert error == name_error(make("cert", sans=sans).cert, name)


def test_the_cn_counts_only_without_a_dns_san() -> None:
    assert name_error(make("cucm.example.com").cert, "cucm.example.com") is None
    assert (
        name_error(make("cucm.example.com", sans=("DNS:x.example.com",)).cert, "cucm.example.com") == HOSTNAME_MISMATCH
    )
    assert name_error(make("10.0.0.1", key=ec_key()).cert, "10.0.0.1") == IP_MISMATCH
