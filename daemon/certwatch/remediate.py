"""The remediation catalog: what to change for each cause. Data in one place, used by ``analyze``, the daemon's
incident API and log lines, and the generated alert rules.

Sources: Cisco docs 218018 (the article in ../shared/seed/), 225476, 225746, 217743, the Expressway X14.2.5 release
notes and the MRA deployment guide, as summarised in ../shared/docs/expressway-logs.md. Public addresses:

* https://www.cisco.com/c/en/us/support/docs/unified-communications/expressway/218018-troubleshoot-expressway-traffic-server-c.html
* https://www.cisco.com/c/en/us/support/docs/unified-communications/telepresence-video-communication-server-expressway/225476-understand-mobile-and-remote-access.html
* https://www.cisco.com/c/en/us/support/docs/unified-communications/unified-communications-manager-version-15/225746-troubleshoot-common-issues-with.html

Step texts are templates: ``{origin}``, ``{port}`` (``port 6972`` or ``its HTTPS ports``) and ``{depth}``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from certwatch.model import Cause

TRUST_STORE: Final = "Expressway-C Maintenance > Security > Trusted CA certificate"
CUCM_CERTS: Final = "Cisco Unified OS Administration > Security > Certificate Management"
RESTART: Final = (
    "Restart every Expressway-C peer afterwards (Maintenance > Restart options): a changed trusted CA list "
    "only takes effect after a restart."
)
WORKAROUND: Final = (
    "Last resort, short term only: on every Expressway-C peer run "
    "`xConfiguration EdgeConfigServer VerifyOriginServer: Off`. This turns origin certificate verification off "
    "and reopens the man-in-the-middle exposure it closes (CSCwa25108 / CVE-2022-20814); set it back to On "
    "as soon as the certificates are fixed."
)
SAME_CN: Final = (
    "The Expressway trust store cannot hold two different certificates with the same CN (bug ID CSCwa12905 "
    "per Cisco doc 218018; CSCwa12894 in Cisco doc 225476): when tomcat and CallManager (or their ECDSA "
    "variants) are self-signed with one CN, CA-sign them or reuse one multi-SAN certificate for both (CUCM 14+)."
)
ECDSA: Final = (
    "Since X14.2 Expressway-C prefers ECDSA, so CUCM/IM&P may now present its tomcat-ECDSA (or CallManager-ECDSA) "
    "certificate, self-signed by default, instead of the CA-signed RSA one. To prefer RSA again, prefix the cipher "
    "string with `ECDHE-RSA-AES256-GCM-SHA384:` under Maintenance > Security > Ciphers (xConfiguration Ciphers) "
    "on every peer."
)


@dataclass(frozen=True, slots=True)
class Hint:
    """``summary`` is one line for tables and alert titles; ``steps`` are what to do, in order."""

    summary: str
    steps: tuple[str, ...]
    expressway_side: bool = True  # Expressway-C's own verification fails, so the workaround applies


_LEAF_CERTS: Final = (
    "tomcat / tomcat-ECDSA for 8443, 6971 and 6972 on CUCM and IM&P, CallManager / CallManager-ECDSA for SIP, "
    "cup-xmpp for IM&P XMPP, tomcat on Unity Connection"
)

HINTS: Final[dict[Cause, Hint]] = {
    Cause.UNTRUSTED_SELF_SIGNED: Hint(
        "Trust or CA-sign the origin's self-signed certificate",
        (
            "{origin} ({port}) presents a self-signed certificate (depth 0) that Expressway-C does not trust.",
            ECDSA,
            "Preferred fix: CA-sign the certificate on {origin}: " + CUCM_CERTS + " (" + _LEAF_CERTS + "), "
            "then restart the service that serves it (Cisco Tomcat; HAProxy/TFTP for 6971/6972), and upload the "
            "signing CA (root and intermediates) to " + TRUST_STORE + " on every peer.",
            "Or upload {origin}'s self-signed certificate itself to " + TRUST_STORE + " on every peer. " + SAME_CN,
            RESTART,
        ),
    ),
    Cause.UNTRUSTED_CHAIN: Hint(
        "Upload the origin's root and intermediate CAs to Expressway-C",
        (
            "{origin} ({port}) presents a CA-signed certificate whose chain Expressway-C cannot complete: {depth_text}",
            "Upload the root CA and every intermediate CA that signed {origin}'s certificate to "
            + TRUST_STORE
            + " on every peer of the cluster (Cisco doc 218018).",
            "If {origin} sends only its own certificate, also make it send the chain: re-import the certificate "
            "with its chain under " + CUCM_CERTS + ".",
            RESTART,
        ),
    ),
    Cause.EXPIRED: Hint(
        "Renew the expired certificate",
        (
            "{depth_text}",
            "Renew it on {origin}: " + CUCM_CERTS + " > select the certificate (" + _LEAF_CERTS + ") > "
            "Regenerate, or generate a CSR and have the CA sign it, then upload it and restart the service "
            "(Cisco Tomcat, Cisco CallManager, Cisco TFTP, HAProxy as applicable).",
            "If the issuing CA changed, upload the new root and intermediates to " + TRUST_STORE + " on every peer.",
            RESTART,
        ),
    ),
    Cause.NOT_YET_VALID: Hint(
        "Fix the clock (NTP) or re-issue the certificate",
        (
            (
                "The certificate of {origin} ({port}) is not valid yet: either a clock is wrong or the certificate "
                "was issued with a future start date."
            ),
            (
                "Check NTP on every Expressway-C peer (System > Time) and on {origin} (`utils ntp status` on the "
                "CUCM / IM&P / Unity Connection CLI)."
            ),
            "If the clocks are right, re-issue the certificate with a correct validity period under "
            + CUCM_CERTS
            + ".",
        ),
    ),
    Cause.NAME_MISMATCH: Hint(
        "Make the certificate SAN contain the address Expressway-C uses",
        (
            (
                "The name or address Expressway-C uses for {origin} ({port}) is not in the subject alternative names "
                "of the certificate it presents."
            ),
            "{ip_text}",
            "Otherwise regenerate the certificate on {origin} with that FQDN in its SAN (a multi-SAN tomcat / "
            "CallManager certificate carries every node of the cluster): " + CUCM_CERTS + ".",
            (
                "After changing server names on CUCM, refresh the Unified CM / IM&P / Unity Connection servers on "
                "Expressway-C: Configuration > Unified Communications > Unified CM servers (and IM and Presence "
                "Service nodes, Unity Connection servers) > Refresh servers."
            ),
        ),
    ),
    Cause.WEAK_CRYPTO: Hint(
        "Re-issue the certificate with a stronger key or digest",
        (
            (
                "The certificate of {origin} ({port}) uses a key or a signature digest too weak for Expressway-C "
                "(for example RSA below 2048 bits, or SHA-1)."
            ),
            "Regenerate it with RSA 2048+ or ECDSA P-256+ and a SHA-256 signature, and have the CA re-sign "
            "it: " + CUCM_CERTS + "; if a CA certificate is the weak one (depth {depth}), replace the CA.",
            RESTART,
        ),
    ),
    Cause.BAD_PURPOSE: Hint(
        "Re-issue the certificate for TLS server authentication",
        (
            (
                "The certificate of {origin} ({port}) is not valid for TLS server authentication (its extended key "
                "usage lacks serverAuth)."
            ),
            "Have the CA re-sign {origin}'s certificate with a template that includes TLS Web Server "
            "Authentication (and Client Authentication for CallManager/tomcat, which CUCM also uses as a "
            "client), then upload it under " + CUCM_CERTS + " and restart the service.",
        ),
    ),
    Cause.REVOKED: Hint(
        "Replace the revoked certificate",
        (
            "The certificate of {origin} ({port}) (or a CA above it, depth {depth}) has been revoked.",
            "Issue and install a new certificate on {origin} under " + CUCM_CERTS + ", and replace the revoked "
            "CA in " + TRUST_STORE + " if a CA was revoked.",
            RESTART,
        ),
    ),
    Cause.PEER_REJECTED_CLIENT_CERT: Hint(
        "Upload Expressway-C's CA to CUCM tomcat-trust and CallManager-trust",
        (
            (
                "{origin} ({port}) refused Expressway-C's own (client) certificate with a TLS alert: the fix is on "
                "the {origin} side, not in Expressway's trust store. CUCM asks for a client certificate on ports "
                "other than 8443 (6971, 6972, ...), even in non-secure mode."
            ),
            "Upload the root and intermediate CAs that signed the Expressway-C server certificate to tomcat-trust "
            "and CallManager-trust on {origin} (and the rest of its cluster): "
            + CUCM_CERTS
            + " > Upload Certificate/Certificate chain.",
            "Then restart Cisco Tomcat, Cisco CallManager, Cisco TFTP and HAProxy on those nodes (Cisco doc 225746).",
        ),
        expressway_side=False,
    ),
    Cause.HANDSHAKE_FAILURE: Hint(
        "Align ciphers and certificate types between Expressway-C and the origin",
        (
            (
                "The TLS handshake with {origin} ({port}) failed before any certificate check: the two sides share no "
                "cipher suite, curve, signature algorithm or TLS version."
            ),
            (
                "Compare Expressway-C Maintenance > Security > Ciphers (xConfiguration Ciphers) with "
                "Cisco Unified OS Administration > Security > Cipher Management on {origin}. X14.2 changed the "
                "default order (ECDSA first): the `ECDHE-RSA-AES256-GCM-SHA384:` prefix restores RSA preference."
            ),
        ),
        expressway_side=False,
    ),
    Cause.OTHER_VERIFY_ERROR: Hint(
        "Check the origin's certificate chain, names and validity",
        (
            "Expressway-C could not verify the certificate of {origin} ({port}){error_text}.",
            (
                "If the log carries only `SSL connection failed ... certificate verify failed` lines, include "
                "WARNING-level messages in Maintenance > Logging on every peer: the WARNING line names the exact "
                "cause."
            ),
            "Check that " + TRUST_STORE + " holds {origin}'s root and intermediate CAs, that the certificate is "
            "in its validity period and that its SAN carries the FQDN Expressway-C uses.",
            RESTART,
        ),
    ),
}


def summary(cause: Cause) -> str:
    """One line: the short fix for tables, dashboards and alert titles."""
    return HINTS[cause].summary


def _depth_text(cause: Cause, depth: int | None, origin: str) -> str:
    if cause is Cause.EXPIRED:
        if depth is None:
            return (
                f"The certificate {origin} presents, or a CA certificate of its chain, has expired (the log line "
                "gives no depth)."
            )
        if depth:
            return (
                f"A CA certificate in {origin}'s chain (depth {depth}: an intermediate or the root) has expired: "
                "renew or replace that CA certificate, re-issue what it signed if needed, and update it in the "
                "Expressway-C and CUCM trust stores."
            )
        return f"The certificate {origin} presents (depth 0) has expired."
    if depth is None:
        return "a CA of its chain (an intermediate or the root) is not in the Expressway-C trust store."
    if depth:
        return (
            f"the issuer of the certificate at depth {depth} (an intermediate or the root CA) is not in the "
            "Expressway-C trust store."
        )
    return "the CA that issued its certificate (depth 0) is not in the Expressway-C trust store."


def _ip_text(origin: str) -> str:
    try:
        ipaddress.ip_address(origin)
    except ValueError:
        return (
            f"Expressway-C reaches this node as `{origin}`: that exact FQDN must be a SAN entry of the tomcat "
            "(and tomcat-ECDSA) and CallManager certificates."
        )
    return (
        f"The node is addressed by IP ({origin}): CUCM announces it by IP address. On CUCM set System > Server "
        "to the node's FQDN (CUCM must always be defined by FQDN, Cisco doc 225476)."
    )


def remediation(
    cause: Cause,
    origin: str,
    port: int | None,
    depth: int | None = None,
    error: str | None = None,
    cluster_wide_nodes: tuple[str, ...] = (),
    cluster: str | None = None,
    enforced: bool = True,
) -> list[str]:
    """The concrete steps for one finding, most useful first. The ``VerifyOriginServer: Off`` workaround is
    offered, as a last resort, only where it helps: an enforced failure of Expressway-C's own verification."""
    hint = HINTS[cause]
    values = {
        "origin": origin,
        "port": f"port {port}" if port is not None else "port unknown",
        "depth": "?" if depth is None else str(depth),
        "depth_text": _depth_text(cause, depth, origin),
        "ip_text": _ip_text(origin),
        "error_text": f" (OpenSSL: {error})" if error else "",
    }
    steps = [step.format(**values) for step in hint.steps]
    if len(cluster_wide_nodes) >= 2:
        where = f"cluster {cluster}" if cluster else "the cluster"
        text = (
            f"Cluster-wide: {origin} fails on {len(cluster_wide_nodes)} peers of {where} "
            f"({', '.join(cluster_wide_nodes)}), so the cause is not one peer's."
        )
        if hint.expressway_side:
            text += " Apply the Expressway-C steps on every peer of the cluster (Cisco doc 218018)."
        steps.insert(1, text)
    if hint.expressway_side and enforced:
        steps.append(WORKAROUND)
    return steps
