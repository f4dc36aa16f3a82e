"""Self-telemetry: every metric certwatch exports, specified in one place, and the plain counters behind them.

The hot path increments ints in :class:`Telemetry`; :mod:`certwatch.export` renders them at scrape time. Label
values of the self-metrics come from the fixed sets below, initialised at zero so every series exists from the
start (a rate over a series that appears late misses its first increments).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, NamedTuple

TRANSPORTS: Final = ("udp", "tcp", "tls")
DROP_REASONS: Final = (
    "queue_full",  # UDP: the engine is behind and the ingress queue is full
    "sender_refused",  # UDP: a datagram from an address outside allowed_senders
    "truncated_frame",  # TCP/TLS: a connection closed inside an octet-counted frame
    "shutdown",  # received, but not processed before the shutdown deadline
    "node_sender_mismatch",  # names a node of node_senders but comes from another address or certificate
)
REFUSAL_REASONS: Final = ("sender", "limit")  # outside allowed_senders; max_connections reached
CLOSE_REASONS: Final = ("peer", "idle", "shutdown", "error")
FRAME_ERRORS: Final = ("frame_too_long", "bad_length")
TLS_FAILURES: Final = (
    "timeout",
    "no_client_certificate",
    "client_certificate_untrusted",
    "protocol_or_cipher",
    "not_tls",
    "closed",
    "other",
)
# Requests refused under http.web_config_file: 401 (no, malformed or wrong credentials), 403 (client certificate
# SAN not allowed), 429 (rate_limit reached, or too many passwords waiting for a bcrypt check).
HTTP_REFUSALS: Final = ("missing", "malformed", "unknown_user", "wrong_password", "client_san", "rate_limited")


class MetricSpec(NamedTuple):
    kind: str  # counter | gauge | info
    labels: tuple[str, ...]
    help: str


INCIDENT_LABELS: Final = ("cluster", "node", "origin", "port", "cause", "enforced")
METRICS: Final[dict[str, MetricSpec]] = {
    # --- what certwatch is for ---------------------------------------------------------------------------------
    "certwatch_incident_active": MetricSpec(
        "gauge", INCIDENT_LABELS, "1 per active incident (an MRA origin failing certificate verification)"
    ),
    "certwatch_incident_started_timestamp_seconds": MetricSpec(
        "gauge", INCIDENT_LABELS, "First failure of an active incident (message time), Unix seconds"
    ),
    "certwatch_cert_verify_failures_total": MetricSpec(
        "counter", INCIDENT_LABELS, "Certificate verification failures towards an origin"
    ),
    "certwatch_bad_gateway_total": MetricSpec(
        "counter",
        ("cluster", "node", "origin", "port", "cause"),
        'HTTP 502 responses to MRA clients, by the certificate failure that explains them ("uncorrelated": none)',
    ),
    "certwatch_origin_responses_total": MetricSpec(
        "counter",
        ("cluster", "node", "origin", "port", "code_class"),
        "Responses sent to MRA clients per origin, by status class",
    ),
    "certwatch_incident_changes_total": MetricSpec("counter", ("change",), "Incidents opened, reopened and resolved"),
    # --- active origin probes (probes section) ----------------------------------------------------------------
    "certwatch_probe_success": MetricSpec(
        "gauge",
        ("origin", "port"),
        "1 when the last probe of the origin verified its certificate as Expressway-C would (ECDSA-first offer), "
        "else 0",
    ),
    "certwatch_probe_timestamp_seconds": MetricSpec(
        "gauge", ("origin", "port"), "When the last probe of the origin finished, Unix seconds"
    ),
    "certwatch_probe_cause": MetricSpec(
        "gauge", ("origin", "port", "cause"), "1 for the certificate cause the last probe of the origin failed with"
    ),
    "certwatch_probe_errors_total": MetricSpec(
        "counter",
        ("origin", "port", "reason"),
        "Probes that could not judge the origin's certificate: connection problems, or no TLS answer (reason tls)",
    ),
    "certwatch_origin_cert_not_after_timestamp_seconds": MetricSpec(
        "gauge",
        ("origin", "port", "depth", "key_type"),
        "End of validity of each certificate the origin sent to the last probe, Unix seconds",
    ),
    # --- Expressway nodes -------------------------------------------------------------------------------------
    "certwatch_node_messages_total": MetricSpec("counter", ("cluster", "node"), "Syslog messages from a node"),
    "certwatch_node_request_lines_total": MetricSpec(
        "counter",
        ("cluster", "node"),
        "traffic_server request/response debug lines from a node (0: its remote syslog excludes Debug)",
    ),
    "certwatch_node_last_message_timestamp_seconds": MetricSpec(
        "gauge", ("cluster", "node"), "Receive time of the node's latest message, Unix seconds (0: never)"
    ),
    "certwatch_node_silent": MetricSpec(
        "gauge", ("cluster", "node"), "1 when the node sent nothing for nodes.silence_after (or never)"
    ),
    # --- ingestion ----------------------------------------------------------------------------------------------
    "certwatch_messages_received_total": MetricSpec("counter", ("transport",), "Syslog messages received"),
    "certwatch_received_bytes_total": MetricSpec("counter", ("transport",), "Bytes received"),
    "certwatch_messages_dropped_total": MetricSpec(
        "counter", ("reason",), "Messages received but not processed, by reason"
    ),
    "certwatch_parse_failures_total": MetricSpec(
        "counter", ("reason",), "Messages that could not be read (not syslog, bad time stamp, truncated line)"
    ),
    "certwatch_messages_ignored_total": MetricSpec(
        "counter", (), "Well-formed messages certwatch has no use for (other programs, other line shapes)"
    ),
    "certwatch_overlong_lines_total": MetricSpec("counter", (), "Lines or messages cut at input.max_message_bytes"),
    "certwatch_frame_errors_total": MetricSpec(
        "counter", ("transport", "reason"), "TCP/TLS framing errors (the framer resynchronises after each)"
    ),
    "certwatch_connections_total": MetricSpec("counter", ("transport",), "TCP/TLS connections accepted"),
    "certwatch_connections_open": MetricSpec("gauge", ("transport",), "TCP/TLS connections open now"),
    "certwatch_connections_refused_total": MetricSpec(
        "counter", ("transport", "reason"), "Connections closed at once: sender not allowed, or limit reached"
    ),
    "certwatch_connections_closed_total": MetricSpec(
        "counter", ("transport", "reason"), "Connections closed, by who or what closed them"
    ),
    "certwatch_tls_handshake_failures_total": MetricSpec("counter", ("reason",), "Failed TLS handshakes"),
    "certwatch_http_requests_refused_total": MetricSpec(
        "counter",
        ("reason",),
        "HTTP requests refused by http.web_config_file: credentials missing, malformed or wrong (401), client "
        "certificate SAN (403), rate limit (429)",
    ),
    "certwatch_backpressure_pauses_total": MetricSpec(
        "counter", (), "Times a TCP/TLS connection stopped being read because the ingress queue was full"
    ),
    "certwatch_ingress_queue_batches": MetricSpec("gauge", (), "Batches waiting for the engine"),
    "certwatch_ingress_queue_capacity_batches": MetricSpec("gauge", (), "Bound of the ingress queue"),
    "certwatch_udp_receive_buffer_bytes": MetricSpec(
        "gauge", ("listener",), "Effective receive buffer of a UDP socket (as the kernel reports it)"
    ),
    "certwatch_udp_kernel_drops_total": MetricSpec(
        "counter", ("listener",), "Datagrams the kernel dropped on a UDP socket (/proc/net/udp)"
    ),
    "certwatch_host_udp_receive_buffer_errors_total": MetricSpec(
        "counter", (), "UDP receive buffer errors of the whole host (/proc/net/snmp RcvbufErrors)"
    ),
    # --- bounded state ------------------------------------------------------------------------------------------
    "certwatch_state_entries": MetricSpec("gauge", ("table",), "Entries in a bounded state table"),
    "certwatch_state_capacity": MetricSpec("gauge", ("table",), "Bound of a state table"),
    "certwatch_state_evictions_total": MetricSpec(
        "counter", ("table",), "Entries evicted to keep a state table within its bound"
    ),
    "certwatch_label_overflow_total": MetricSpec(
        "counter", ("metric",), 'Samples counted under the "__overflow__" label set (metrics.max_series reached)'
    ),
    # --- certwatch itself ---------------------------------------------------------------------------------------
    "certwatch_build_info": MetricSpec("gauge", ("version",), "Always 1; the running version"),
    "certwatch_config_last_reload_success": MetricSpec(
        "gauge", (), "1 when the last configuration load (start or SIGHUP) succeeded"
    ),
    "certwatch_config_last_reload_timestamp_seconds": MetricSpec(
        "gauge", (), "Time of the last configuration load attempt, Unix seconds"
    ),
    "certwatch_scrape_duration_seconds": MetricSpec("gauge", (), "Time the previous /metrics scrape took"),
    "certwatch_event_loop_lag_seconds": MetricSpec(
        "gauge", (), "How late the event loop ran the 100 ms housekeeping timer last time (its backlog)"
    ),
    "certwatch_asyncio_tasks": MetricSpec("gauge", (), "asyncio tasks alive (sampled every second)"),
    "certwatch_state_last_save_timestamp_seconds": MetricSpec(
        "gauge", (), "When the incident state file was last written, Unix seconds (0: not yet, or state.path off)"
    ),
    "certwatch_state_load_failures_total": MetricSpec(
        "counter", (), "Incident state files found unusable at start (moved aside; the daemon started empty)"
    ),
    "certwatch_state_save_failures_total": MetricSpec(
        "counter", (), "Failed writes of the incident state file (retried at the next state.save_interval)"
    ),
}


@dataclass(slots=True)
class Telemetry:
    """Plain counters, written on the event loop only (single writer), read at scrape time."""

    received: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TRANSPORTS, 0))
    received_bytes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TRANSPORTS, 0))
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    frame_errors: dict[tuple[str, str], int] = field(
        default_factory=lambda: {(t, r): 0 for t in ("tcp", "tls") for r in FRAME_ERRORS}
    )
    connections: dict[str, int] = field(default_factory=lambda: {"tcp": 0, "tls": 0})
    connections_open: dict[str, int] = field(default_factory=lambda: {"tcp": 0, "tls": 0})
    refused: dict[tuple[str, str], int] = field(
        default_factory=lambda: {(t, r): 0 for t in TRANSPORTS for r in REFUSAL_REASONS if t != "udp"}
    )
    closed: dict[tuple[str, str], int] = field(
        default_factory=lambda: {(t, r): 0 for t in ("tcp", "tls") for r in CLOSE_REASONS}
    )
    tls_failures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TLS_FAILURES, 0))
    http_refused: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HTTP_REFUSALS, 0))
    overlong: int = 0
    backpressure_pauses: int = 0
    incident_changes: dict[str, int] = field(default_factory=lambda: {"opened": 0, "reopened": 0, "resolved": 0})
    config_reload_success: bool = True
    config_reload_timestamp: float = 0.0
    scrape_duration: float = 0.0
    state_last_save: float = 0.0
    loop_lag: float = 0.0
    tasks: int = 0
    state_load_failures: int = 0
    state_save_failures: int = 0
