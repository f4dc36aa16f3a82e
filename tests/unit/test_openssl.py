"""OpenSSL texts -> causes: ``X509_verify_cert_error_string`` (verify ``Error=``) and handshake reasons.

The texts are those of section 5 (verify) and the table of section 1.4 (``SSL connection failed``) of
``shared/docs/expressway-logs.md``, in their OpenSSL 1.1.1 and 3.x spellings.
"""

from __future__ import annotations

import pytest

from certwatch.model import Cause
from certwatch.parse.openssl import SslReason, classify_ssl_reason, classify_verify_error, normalize

VERIFY_TEXTS = [
    # trust
    ("self signed certificate in certificate chain", Cause.UNTRUSTED_CHAIN),
    ("self-signed certificate in certificate chain", Cause.UNTRUSTED_CHAIN),
    ("unable to get local issuer certificate", Cause.UNTRUSTED_CHAIN),
    ("unable to get issuer certificate", Cause.UNTRUSTED_CHAIN),
    ("unable to verify the first certificate", Cause.UNTRUSTED_CHAIN),
    ("certificate not trusted", Cause.UNTRUSTED_CHAIN),
    ("certificate rejected", Cause.UNTRUSTED_CHAIN),
    # chain defects: no cause of their own
    ("invalid CA certificate", Cause.OTHER_VERIFY_ERROR),
    ("key usage does not include certificate signing", Cause.OTHER_VERIFY_ERROR),
    ("path length constraint exceeded", Cause.OTHER_VERIFY_ERROR),
    ("certificate chain too long", Cause.OTHER_VERIFY_ERROR),
    # validity
    ("certificate has expired", Cause.EXPIRED),
    ("certificate is not yet valid", Cause.NOT_YET_VALID),
    ("certificate is not yet valid or the system clock is incorrect", Cause.NOT_YET_VALID),
    ("format error in certificate's notBefore field", Cause.OTHER_VERIFY_ERROR),
    ("format error in certificate's notAfter field", Cause.OTHER_VERIFY_ERROR),
    # crypto
    ("certificate signature failure", Cause.OTHER_VERIFY_ERROR),
    ("unable to decode issuer public key", Cause.OTHER_VERIFY_ERROR),
    ("unable to decrypt certificate's signature", Cause.OTHER_VERIFY_ERROR),
    # weak keys and hashes
    ("EE certificate key too weak", Cause.WEAK_CRYPTO),
    ("CA certificate key too weak", Cause.WEAK_CRYPTO),
    ("CA signature digest algorithm too weak", Cause.WEAK_CRYPTO),
    # EKU
    ("unsupported certificate purpose", Cause.BAD_PURPOSE),
    ("unsuitable certificate purpose", Cause.BAD_PURPOSE),
    # revocation
    ("certificate revoked", Cause.REVOKED),
    ("unable to get certificate CRL", Cause.OTHER_VERIFY_ERROR),
    # name
    ("Hostname mismatch", Cause.NAME_MISMATCH),
    ("hostname mismatch", Cause.NAME_MISMATCH),
    ("IP address mismatch", Cause.NAME_MISMATCH),
    # other, and the 1.1.1 -> 3.x case changes
    ("out of memory", Cause.OTHER_VERIFY_ERROR),
    ("unspecified certificate verification error", Cause.OTHER_VERIFY_ERROR),
    ("application verification failure", Cause.OTHER_VERIFY_ERROR),
    ("Different CRL scope", Cause.OTHER_VERIFY_ERROR),
    ("different CRL scope", Cause.OTHER_VERIFY_ERROR),
    ("Unsupported extension feature", Cause.OTHER_VERIFY_ERROR),
    ("Path Loop", Cause.OTHER_VERIFY_ERROR),
    ("Email address mismatch", Cause.OTHER_VERIFY_ERROR),
    ("No matching DANE TLSA records", Cause.OTHER_VERIFY_ERROR),
    ("Invalid certificate verification context", Cause.OTHER_VERIFY_ERROR),
    ("Issuer certificate lookup error", Cause.OTHER_VERIFY_ERROR),
]


@pytest.mark.parametrize(("text", "cause"), VERIFY_TEXTS)
def test_verify_text_cause(text, cause):
    """
    Every verify text of the domain doc maps to its cause, whatever the depth it is reported at.
    """
    assert [cause, cause] == [classify_verify_error(text, 0), classify_verify_error(text, 2)]


@pytest.mark.parametrize("text", ["self signed certificate", "self-signed certificate", "Self-Signed Certificate"])
@pytest.mark.parametrize(
    ("depth", "cause"),
    [(0, Cause.UNTRUSTED_SELF_SIGNED), (None, Cause.UNTRUSTED_SELF_SIGNED), (1, Cause.UNTRUSTED_CHAIN)],
)
def test_self_signed_depends_on_depth(text, depth, cause):
    """
    A self-signed certificate at depth 0 (or no depth) is the origin's own; deeper it is the chain's root.
    """
    assert cause == classify_verify_error(text, depth)


def test_verify_text_is_case_and_space_insensitive():
    """
    Case and runs of spaces do not change the cause.
    """
    assert Cause.EXPIRED == classify_verify_error("  Certificate   HAS expired ", 0)


def test_unknown_verify_text_is_other():
    """
    A text certwatch does not know is an `other_verify_error`, not an exception.
    """
    assert Cause.OTHER_VERIFY_ERROR == classify_verify_error("no such error text", 0)


def test_normalize():
    """
    Normalised text is lower case, single-spaced, with `self-signed` spelled the 1.1.1 way.
    """
    assert "self signed certificate in certificate chain" == normalize(
        " Self-Signed  certificate in\tcertificate chain"
    )


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (
            "error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed",
            SslReason.VERIFY_FAILED,
        ),
        ("error:0A000086:SSL routines::certificate verify failed", SslReason.VERIFY_FAILED),
        ("error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca", SslReason.PEER_ALERT),
        ("error:14094418: SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca", SslReason.PEER_ALERT),  # doc 225746
        ("error:0A000418:SSL routines::tlsv1 alert unknown ca", SslReason.PEER_ALERT),
        ("error:14094412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate", SslReason.PEER_ALERT),
        ("error:0A000412:SSL routines::sslv3 alert bad certificate", SslReason.PEER_ALERT),
        ("error:14094416:SSL routines:ssl3_read_bytes:sslv3 alert certificate unknown", SslReason.PEER_ALERT),
        ("error:0A000416:SSL routines::sslv3 alert certificate unknown", SslReason.PEER_ALERT),
        ("error:14094410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure", SslReason.HANDSHAKE),
        ("error:0A000410:SSL routines::sslv3 alert handshake failure", SslReason.HANDSHAKE),
        ("ERROR:0A000410:SSL ROUTINES::SSLV3 ALERT HANDSHAKE FAILURE", SslReason.HANDSHAKE),
    ],
)
def test_ssl_reason_table(reason, expected):
    """
    Every OpenSSL 1.1.1 and 3.x reason of the handshake table is classified, case-insensitively.
    """
    assert expected == classify_ssl_reason(reason)


@pytest.mark.parametrize(
    "reason",
    [
        "Connection reset by peer",
        "error:00000000:lib(0):func(0):reason(0)",
        "error:1408F10B:SSL routines:ssl3_get_record:wrong version number",
        "",
    ],
)
def test_unrelated_ssl_reason_is_other(reason):
    """
    Resets and plain text on a TLS port are not certificate or negotiation problems.
    """
    assert SslReason.OTHER == classify_ssl_reason(reason)
