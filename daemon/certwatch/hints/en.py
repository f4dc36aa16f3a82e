"""English: the remediation catalog, the text report and the alert rules.

Sources of the catalog: Cisco docs 218018 (the article in ../shared/seed/), 225476, 225746, 217743, the Expressway
X14.2.5 release notes and the MRA deployment guide, as summarised in ../shared/docs/expressway-logs.md. Public
addresses:

* https://www.cisco.com/c/en/us/support/docs/unified-communications/expressway/218018-troubleshoot-expressway-traffic-server-c.html
* https://www.cisco.com/c/en/us/support/docs/unified-communications/telepresence-video-communication-server-expressway/225476-understand-mobile-and-remote-access.html
* https://www.cisco.com/c/en/us/support/docs/unified-communications/unified-communications-manager-version-15/225746-troubleshoot-common-issues-with.html

Step texts are templates: ``{origin}``, ``{port}`` (``port 6972`` or ``port unknown``), ``{depth}``, and the
pieces ``{depth_text}``, ``{ip_text}`` and ``{error_text}`` built from :data:`REMEDIATION`.
"""

from __future__ import annotations

from typing import Final

from certwatch.hints import Hint, Texts
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

# The pieces remediation() builds the steps from.
REMEDIATION: Final[dict[str, str]] = {
    "port": "port {port}",
    "port_unknown": "port unknown",
    "depth_unknown": "?",
    "error_text": " (OpenSSL: {error})",
    # {depth_text} of `expired`: the certificate that expired
    "expired_no_depth": (
        "The certificate {origin} presents, or a CA certificate of its chain, has expired (the log line gives no "
        "depth)."
    ),
    "expired_ca": (
        "A CA certificate in {origin}'s chain (depth {depth}: an intermediate or the root) has expired: renew or "
        "replace that CA certificate, re-issue what it signed if needed, and update it in the Expressway-C and CUCM "
        "trust stores."
    ),
    "expired_leaf": "The certificate {origin} presents (depth 0) has expired.",
    # {depth_text} of the other causes: the CA that is missing from the trust store
    "issuer_no_depth": "a CA of its chain (an intermediate or the root) is not in the Expressway-C trust store.",
    "issuer_ca": (
        "the issuer of the certificate at depth {depth} (an intermediate or the root CA) is not in the Expressway-C "
        "trust store."
    ),
    "issuer_leaf": "the CA that issued its certificate (depth 0) is not in the Expressway-C trust store.",
    # {ip_text}: the origin is a name, or an IP address
    "origin_fqdn": (
        "Expressway-C reaches this node as `{origin}`: that exact FQDN must be a SAN entry of the tomcat "
        "(and tomcat-ECDSA) and CallManager certificates."
    ),
    "origin_ip": (
        "The node is addressed by IP ({origin}): CUCM announces it by IP address. On CUCM set System > Server "
        "to the node's FQDN (CUCM must always be defined by FQDN, Cisco doc 225476)."
    ),
    # the step inserted second when an origin fails on two or more peers of one cluster
    "cluster_named": "cluster {cluster}",
    "cluster_unnamed": "the cluster",
    "node_separator": ", ",
    "cluster_wide": (
        "Cluster-wide: {origin} fails on {count} peers of {where} ({nodes}), so the cause is not one peer's."
    ),
    "cluster_wide_expressway": " Apply the Expressway-C steps on every peer of the cluster (Cisco doc 218018).",
    # the last step of an enforced failure of Expressway-C's own verification
    "workaround": WORKAROUND,
    # the daemon's probe verified an origin while its incidents are still open (API and probe_fix_verified line)
    "probe_fix_verified": (
        "Fix verified on the origin: {origin} ({port}) now presents a certificate Expressway-C can verify; the "
        "Expressway peers still need the new trust list and a restart."
    ),
}

# The text report of `certwatch analyze`. Counts come formatted ("1,234"); `.one` / `.other` are the plural forms.
REPORT: Final[dict[str, str]] = {
    "headline": (
        "certwatch analyze: {findings} on {nodes} ({failing} failing, {at_risk} at risk, {resolved} resolved) "
        "from {lines} lines"
    ),
    "finding.one": "{n} finding",
    "finding.other": "{n} findings",
    "node.one": "{n} node",
    "node.other": "{n} nodes",
    "no_findings": "No certificate-verification failures found.",
    "cluster": "== cluster {cluster} ==",
    "origin_ip": "{origin} ({ip})",
    "cluster_wide": "{origin}: cluster-wide, failing on {nodes}",
    "on_node": "{origin}: on {node}",
    "node_separator": ", ",
    "enforced": "ENFORCED",
    "at_risk": "AT RISK (permissive: not enforced yet)",
    "cause": "[{mode}] {cause}",
    "cause_error": "[{mode}] {cause}: {error}",
    "cause_error_depth": "[{mode}] {cause}: {error} at depth {depth}",
    "finding": "{node}, {port}: {status}, {failures}, {requests} (502), {first} .. {last}",
    "status.active": "active",
    "status.resolved": "resolved",
    "failure.one": "{n} certificate failure",
    "failure.other": "{n} certificate failures",
    "request.one": "{n} failed request",
    "request.other": "{n} failed requests",
    "fix": "fix: {summary}",
    "evidence": "evidence:",
    "stats": (
        "stats: {messages} messages, {traffic_server} traffic_server, {ignored} ignored, {unreadable} unreadable, "
        "{uncorrelated} uncorrelated 502s"
    ),
    "no_request_lines": (
        "note: no request/response lines from {nodes}: their remote syslog filter excludes Debug, so ports are "
        "unknown and 502s are joined by time only."
    ),
}

# The Prometheus rules. Prometheus template expressions ({{ $labels.node }}, {{ $value }}, listings) are placeholders
# the renderer fills, so the texts themselves hold no braces.
RULES: Final[dict[str, str]] = {
    "header": (
        "# Prometheus rules for certwatch. Generated by `certwatch render-rules` from the metric contract\n"
        "# (daemon/certwatch/telemetry.py) and the remediation catalog (daemon/certwatch/remediate.py): do not edit.\n"
        "# Regenerate: certwatch render-rules --output deploy/prometheus/certwatch-rules.yml\n"
    ),
    # incident alerts: one per cause, enforced (failing) and permissive (at risk)
    "incident.where": "Expressway-C {node} (cluster {cluster}) cannot verify the TLS certificate of {origin} ({port})",
    "failing.summary": "MRA requests from {node} to {origin} ({port}) fail certificate verification ({cause}): {fix}",
    "failing.lead": (
        "{where}: {cause}. Verification is enforced, so MRA requests to this origin fail and users get "
        "HTTP 502 (Jabber sign-in, TFTP downloads, voicemail)."
    ),
    "at_risk.summary": "{origin} ({port}) fails certificate verification on {node} ({cause}), at risk: {fix}",
    "at_risk.lead": (
        "{where}: {cause}. Verification is permissive (Action=Continue), so requests still succeed; they "
        "will fail with HTTP 502 once verification is enforced."
    ),
    "incident.fix": "Fix: {fix}.",
    "incident.details": "Details (OpenSSL error, depth, evidence): GET /api/v1/incidents?node={node} on certwatch.",
    # cluster-wide alerts
    "wide.summary": "{origin} fails certificate verification on {count} peers of cluster {cluster} ({cause}): {fix}",
    "wide.cause": (
        "Cause {cause}, verification enforced: MRA requests to {origin} through these peers fail with HTTP 502."
    ),
    "wide.fix": "Fix: {fix}. The {alert} alert of each peer carries the steps.",
    # probe alerts (the daemon's probes: probes.targets); {target} is origin:port
    "predicts.summary": "The probe of {origin} ({port}) predicts a certificate verification failure ({cause}): {fix}",
    "predicts.lead": (
        "certwatch probed {origin} ({port}) as Expressway-C connects to it, against the Expressway-C trust list it "
        "was given: verification fails ({cause}). Where Expressway-C enforces verification, its MRA requests to this "
        "origin will fail with HTTP 502 (Jabber sign-in, TFTP downloads, voicemail): fix it before they do."
    ),
    "predicts.details": (
        "Details (OpenSSL error, depth, the certificates served, the X14.2 trap): "
        "`certwatch probe --ca-file FILE {target}`, FILE being the Expressway-C trust list (Maintenance > Security "
        "> Trusted CA certificate > Show all (PEM file))."
    ),
    # {certificate} is expires.leaf or expires.ca, {when} expires.in or expires.expired, {fix} the advice for it
    "expires.leaf": "The {key_type} certificate",
    "expires.ca": "The {key_type} CA certificate at depth {depth}",
    "expires.in": "expires in {duration}",
    "expires.expired": "has expired",
    "expires.summary": "{certificate} of {origin} ({port}) {when}",
    "expires.description": (
        "{certificate} that {origin} ({port}) presents to Expressway-C {when}. Expressway-C refuses an expired "
        "certificate (cause expired): MRA requests to this origin then fail with HTTP 502 (Jabber sign-in, TFTP "
        "downloads, voicemail). {fix}"
    ),
    "expires.fix_leaf": (
        "Renew it on {origin} before then: Cisco Unified OS Administration > Security > Certificate Management > "
        "select the certificate > Regenerate, or have the CA sign a new CSR and upload it; then restart the service "
        "that serves it (Cisco Tomcat; HAProxy/TFTP for 6971/6972)."
    ),
    "expires.fix_ca": (
        "Renew that CA certificate with its CA before then, re-issue what it signed if needed, and upload the new one "
        "to Maintenance > Security > Trusted CA certificate on every Expressway-C peer (and to the CUCM trust "
        "stores); restart the peers afterwards (Maintenance > Restart options): a changed trusted CA list only takes "
        "effect after a restart."
    ),
    "fix_verified.summary": "Fix verified on {origin} ({port}); its incidents are still open",
    "fix_verified.description": (
        "certwatch's probe of {origin} ({port}) now passes verification against the Expressway-C trust list it was "
        "given, while incidents for this origin and port are still open on {nodes}: the fix on the origin is "
        "verified. If those peers still fail, they still need the new trust list and a restart: upload the CA "
        "certificates to Maintenance > Security > Trusted CA certificate on every peer, then restart it "
        "(Maintenance > Restart options). An incident resolves at the next successful request through its peer, or "
        "15 minutes after its last failure."
    ),
    # node alerts; {logging} is the Expressway menu path
    "peer": "Expressway peer {node} (cluster {cluster})",
    "never_heard.summary": "{peer} has never sent syslog to certwatch",
    "never_heard.description": (
        "{peer} is listed under clusters: in certwatch's configuration, but no certwatch instance has "
        "received a message from it since it started, so its MRA failures go unseen. On the peer, "
        "{logging}: add every certwatch host. Check that the host name in its syslog header is the "
        "name under clusters:, and the listeners' allowed_senders and the firewalls on the way."
    ),
    "silent.summary": "{peer} has gone silent",
    "silent.description": (
        "No certwatch instance has received a message from {peer} for nodes.silence_after (10m by "
        "default), so its MRA failures go unseen. Check that the peer is up, that "
        "{logging} still lists the certwatch hosts, and the network between them."
    ),
    "some_instances.summary": "{peer} reaches only some certwatch instances",
    "some_instances.description": (
        "{peer} is heard by a certwatch instance but silent on {instances}: its syslog has lost high "
        "availability. On the peer, {logging} must list both certwatch hosts; check that host's "
        "listeners, allowed_senders and firewall."
    ),
    "no_request_lines.summary": "{peer} sends no request lines (Debug not enabled)",
    "no_request_lines.description": (
        "certwatch receives the syslog of {peer} but no traffic_server request/response lines: its "
        "remote syslog filter excludes Debug, so ports are unknown and 502s are joined to failures by "
        "time only. For ports, per-request 502 attribution and automatic resolution, set the certwatch "
        "servers' severity filter to Debug on the peer ({logging})."
    ),
    # certwatch itself
    "down.summary": "No certwatch instance is up",
    "down.description": (
        "No target of job {job} is up (or none is scraped): Expressway MRA certificate incidents go "
        "undetected. Check the certwatch service on both hosts (its JSON log on standard error) and "
        "Prometheus's scrape configuration."
    ),
    "instance_down.summary": "A certwatch instance is down; the other one still alerts",
    "instance_down.description": (
        "{value} certwatch instance(s) of job {job} not up: {instances}. The other instance receives the same "
        "syslog, so incidents are still detected, but high availability is lost: restart it (its JSON log on "
        "standard error says why it stopped)."
    ),
    "reload_failed.summary": "certwatch rejected its configuration",
    "reload_failed.description": (
        "The last configuration load failed on {instances}: the previous configuration stays in force. Its log "
        "lists every problem; fix the file (`certwatch check-config FILE` validates it) and send SIGHUP again."
    ),
    "dropped.summary": "certwatch is dropping syslog messages ({reason})",
    "dropped.description": (
        "{value} messages dropped in 10 minutes ({reason}) on {instances}: {advice}. Dropped messages can hide "
        "incidents."
    ),
    "dropped.queue_full": (
        "the engine is behind and the ingress queue is full: check the host's CPU, ingress.queue_batches"
    ),
    "dropped.sender_refused": (
        "datagrams from addresses outside allowed_senders: add the peer, or find the unknown sender"
    ),
    "dropped.truncated_frame": "TCP/TLS connections closed inside an octet-counted frame: check the sender or relay",
    "dropped.other": "received but not processed before the shutdown deadline (daemon.shutdown_timeout)",
    "kernel_drops.summary": "The kernel drops syslog datagrams for certwatch on {listener}",
    "kernel_drops.description": (
        "{value} datagrams dropped in 10 minutes by the kernel on UDP listener {listener}: certwatch does not read "
        "fast enough or the receive buffer is too small. Raise listeners[].receive_buffer_bytes (and "
        "net.core.rmem_max), or send over TCP or TLS, which apply backpressure instead."
    ),
    "parse_failures.summary": "certwatch cannot read {share} of messages ({reason})",
    "parse_failures.description": (
        "{share} of the messages received fail to parse ({reason}). not_syslog: a sender does not send syslog "
        "(Message Format, wrong port); bad_timestamp: an unreadable time stamp; orphan_continuation and truncated_*: "
        "lines cut short (UDP datagram size, input.max_message_bytes, a relay). Unread lines can hide incidents."
    ),
    "series_limit.summary": "certwatch series of {metric} overflow metrics.max_series",
    "series_limit.description": (
        "New label sets of {metric} are counted under the __overflow__ series because metrics.max_series is "
        "reached: their incidents raise no per-origin alert. Raise metrics.max_series, or find what creates so many "
        "origins, ports or nodes."
    ),
}

# `certwatch probe`: its own hints (the catalog gives those of a cause) and the words of its text report. {port} is
# "port 8443" (REMEDIATION["port"]), {where} the "where" text; counts come as numbers, `.one` / `.other` as in REPORT.
PROBE: Final[dict[str, str]] = {
    # the first step of an X14.2 trap; {fingerprint} is the start of the ECDSA certificate's SHA-256, {prefix} the
    # cipher-string prefix that restores RSA preference
    "trap.step": (
        "X14.2 ECDSA trap: {origin} ({port}) serves two certificates. X14.2 prefers ECDSA, so Expressway-C gets "
        "{what} ({fingerprint}...) that fails verification ({cause}), while an RSA-only offer gets an RSA "
        "certificate that verifies: the origin worked with Expressway before X14.2 and breaks after the upgrade. "
        "Either fix the ECDSA certificate on {origin} (tomcat-ECDSA or CallManager-ECDSA{default}): CA-sign it and "
        "upload its CA to Expressway-C; or make Expressway-C prefer RSA again: prefix the cipher string with "
        "`{prefix}` under Maintenance > Security > Ciphers (xConfiguration Ciphers) on every peer."
    ),
    "trap.what": "an ECDSA certificate",
    "trap.what_self_signed": "a self-signed ECDSA certificate",
    "trap.default_self_signed": ", self-signed by default",
    "trap.summary": "X14.2 ECDSA trap: {summary}",
    # connection and TLS problems (no certificate cause)
    "where": "{address} port {port}",
    "connect.summary": "Cannot connect to the origin ({kind})",
    "connect.refused": (
        "Nothing accepts connections on {where}: check that the service runs on {origin} (Cisco Tomcat for 8443, "
        "HAProxy for 6971/6972) and that no firewall rejects Expressway-C."
    ),
    "connect.timeout": (
        "No answer from {where} within the timeout: a firewall dropping the traffic, a wrong address, or a service "
        "that accepts connections but never starts TLS."
    ),
    "connect.dns": (
        "{origin} does not resolve: Expressway-C resolves the names CUCM announces (System > Server), so they must "
        "be in DNS (System > DNS on Expressway-C)."
    ),
    "connect.reset": (
        "{where} closed the connection during the handshake: the service or a middlebox refuses TLS from this address."
    ),
    "connect.unreachable": "No route to {where}: check the address and the routing between Expressway-C and {origin}.",
    "tls.summary": "The origin did not complete a TLS handshake",
    "tls.step": (
        "{where} did not answer as a TLS server ({error}): check that port {port} is the HTTPS port of the service "
        "Expressway-C proxies to."
    ),
    # the text report
    "headline": "certwatch probe: {origins}: {ok} ok, {failing} failing, {unreachable} unreachable",
    "origin.one": "{n} origin",
    "origin.other": "{n} origins",
    "result": "{origin}:{port}{address}: {status}",
    "address": " ({address})",
    "status.ok": "OK",
    "status.error": "FAIL {error}",
    "status.cause": "FAIL {cause}: {error}",
    "status.cause_depth": "FAIL {cause}: {error} at depth {depth}",
    "chain": "chain sent ({complete}):",
    "chain.complete": "complete",
    "chain.incomplete": "incomplete",
    "chain.unknown": "?",
    "issuer": "issuer {issuer}",
    "issuer_self_signed": "issuer {issuer} (self-signed)",
    "sans": "SAN {sans}",
    "sans.none": "(none)",
    "key": "{key_type} {key_bits}, {signature_algorithm}, valid {not_before} .. {not_after}",
    "sha256": "SHA-256 {sha256}",
    "offers": "offers (which certificate each cipher offer gets):",
    "offer.refused": "refused",
    "verdict.ok": "ok",
    "verdict.failed": "failed",
    "verdict.depth": "{verdict} (depth {depth})",
    "fix": "fix: {summary}",
}

TEXTS: Final = Texts("en", HINTS, REMEDIATION, REPORT, RULES, PROBE)
