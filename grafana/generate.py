"""Writes grafana/dashboards/certwatch.json, the certwatch dashboard, from the code below.

Run ``.venv/bin/python grafana/generate.py`` after changing this file or the remediation catalog: the cause ->
short-fix value mappings are generated from ``certwatch.remediate.summary()`` for every ``Cause``, so the
dashboard tells the same fix as ``analyze``, the incident API and the alerts. ``--check`` exits 1 when the
committed JSON is not what this file generates (``tests/unit/test_dashboard.py`` checks the same).

Conventions of the queries:

* ``$cluster``, ``$node``, ``$origin`` (multi-value, "All" = ``.*``) filter every incident and node query;
  ``$job`` (the Prometheus job scraping certwatch) is only used by the ``up`` panel.
* Counters certwatch initialises at zero (messages, drops, parse failures, ...) are shown as per-second
  ``rate(...[$__rate_interval])``.
* Counters born with their first increment (one series per node, origin, port and cause: 502s, verification
  failures, responses) are shown as counts per ``$__rate_interval``, adding the full value of the series that did
  not exist one interval earlier: ``rate``/``increase`` need two samples, so without that term the first 502 of a
  new incident would never show.
* Two certwatch instances receive the same syslog (the documented high-availability setup) and export the same
  series: incident and node panels merge them per series with ``max`` (silence with ``min``: a node is silent when
  it is silent on every instance), as the alert rules do, so nothing is counted twice. The ingest-health panels
  are per instance.
* The origin-probe panels read what the daemon's probes export (``probes:`` in its configuration; empty while probes
  are off). Both instances probe the same targets: ``max`` per origin and port, ``min`` for a certificate's end of
  validity. ``$origin`` filters them too; probe series carry no cluster or node.
"""
# ruff: noqa: INP001

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from certwatch.model import Cause
from certwatch.remediate import summary

ROOT = Path(__file__).resolve().parent
OUTPUT = ROOT / "dashboards" / "certwatch.json"
DATASOURCE_UID = "certwatch-prometheus"  # provisioning/datasources/certwatch.yaml
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
UID = "certwatch-mra"
TITLE = "certwatch: MRA origin certificates"

INCIDENT = 'cluster=~"$cluster",node=~"$node",origin=~"$origin"'
NODE = 'cluster=~"$cluster",node=~"$node"'
INCIDENT_KEY = "cluster, node, origin, port, cause"
PROBE = 'origin=~"$origin"'
EXPIRY_WARNING_DAYS = 30  # as the alert rules: CertwatchOriginCertificateExpiresSoon, warning and critical
EXPIRY_CRITICAL_DAYS = 7


def sel(metric: str, matchers: str = "", *extra: str) -> str:
    inner = ",".join(m for m in (matchers, *extra) if m)
    return f"{metric}{{{inner}}}" if inner else metric


def window_count(series: str, by: str, key: str, window: str = "$__rate_interval") -> str:
    """Events per ``window``, including series born inside it (whose whole value is new); instances merged per
    ``key`` (every label of the metric) with ``max``, then summed ``by``."""
    grouping = f"sum by ({by}) " if by else "sum"
    per_key = f"max by ({key}) (({series} unless {series} offset {window}) or increase({series}[{window}]))"
    return f"{grouping}({per_key})"


def with_fix(expr: str) -> str:
    """Copy ``cause`` into a ``fix`` label: its value mapping shows the catalog's one-line fix."""
    return f'label_replace({expr}, "fix", "$1", "cause", "(.+)")'


def fix_mappings() -> list[dict[str, Any]]:
    """cause -> ``remediate.summary(cause)``, for every cause."""
    options = {str(cause): {"index": i, "text": summary(cause)} for i, cause in enumerate(Cause)}
    return [{"type": "value", "options": options}]


def enforced_mappings() -> list[dict[str, Any]]:
    return [
        {
            "type": "value",
            "options": {
                "true": {"index": 0, "text": "failing (enforced)", "color": "red"},
                "false": {"index": 1, "text": "at risk (permissive)", "color": "orange"},
            },
        }
    ]


# ---- panel builders ----------------------------------------------------------------------------------------------


class Layout:
    """Assigns ids and grid positions, left to right, top to bottom, 24 columns."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = 0
        self.y = 0
        self.row_height = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self._newline()
        panel = {"id": len(self.panels) + 1, **panel, "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y}}
        self.panels.append(panel)
        self.x += w
        self.row_height = max(self.row_height, h)

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_height
        self.x = 0
        self.row_height = 0


def target(ref: str, expr: str, legend: str = "", *, table: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"datasource": DATASOURCE, "refId": ref, "expr": expr, "editorMode": "code"}
    if table:
        out.update({"format": "table", "instant": True, "range": False})
    else:
        out.update({"legendFormat": legend or "__auto", "range": True, "instant": False})
    return out


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def stat(
    title: str, description: str, expr: str, steps: dict[str, Any], mappings: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target("A", expr, table=False) | {"instant": True, "range": False}],
        "fieldConfig": {
            "defaults": {"unit": "none", "decimals": 0, "thresholds": steps, "mappings": mappings or []},
            "overrides": [],
        },
        "options": {
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "center",
            "orientation": "auto",
            "textMode": "value",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    }


def timeseries(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    *,
    bars: bool = False,
    stack: bool = False,
) -> dict[str, Any]:
    custom: dict[str, Any] = {
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 60 if bars else 10,
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
    }
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, "min": 0, "custom": custom}, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "right", "showLegend": True, "calcs": ["max", "sum"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def override(name: str, **properties: Any) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": key.replace("__", "."), "value": value} for key, value in properties.items()],
    }


def table(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    order: list[str],
    rename: dict[str, str],
    overrides: list[dict[str, Any]],
    sort_by: str,
    *,
    hidden: tuple[str, ...] = (),
    descending: bool = True,
) -> dict[str, Any]:
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": dict.fromkeys(("Time", *hidden), True),
                    "indexByName": {name: i for i, name in enumerate(order)},
                    "renameByName": rename,
                },
            },
        ],
        "fieldConfig": {
            "defaults": {"custom": {"align": "auto", "filterable": True}, "mappings": []},
            "overrides": overrides,
        },
        "options": {"showHeader": True, "cellHeight": "sm", "sortBy": [{"displayName": sort_by, "desc": descending}]},
    }


# ---- the dashboard -----------------------------------------------------------------------------------------------


def summary_row(layout: Layout) -> None:
    layout.row("Now")
    red_from_1 = thresholds((None, "green"), (1, "red"))
    active = sel("certwatch_incident_active", INCIDENT)
    enforced = sel("certwatch_incident_active", INCIDENT, 'enforced="true"')
    permissive = sel("certwatch_incident_active", INCIDENT, 'enforced="false"')
    layout.add(
        stat(
            "Origins failing",
            "Origins (per cluster) with an enforced incident: MRA requests to them fail now.",
            f"count(count by (cluster, origin) ({enforced})) or vector(0)",
            red_from_1,
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Origins at risk",
            "Origins (per cluster) failing verification permissively (Action=Continue): they break once "
            "verification is enforced.",
            f"count(count by (cluster, origin) ({permissive})) or vector(0)",
            thresholds((None, "green"), (1, "orange")),
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "502s in range",
            "HTTP 502 responses to MRA clients over the dashboard range, explained or not.",
            window_count(sel("certwatch_bad_gateway_total", INCIDENT), "", INCIDENT_KEY, "$__range") + " or vector(0)",
            red_from_1,
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Incidents",
            "Active incidents: one per (node, origin, port, cause, enforced).",
            f"count(max by ({INCIDENT_KEY}, enforced) ({active})) or vector(0)",
            thresholds((None, "green"), (1, "red")),
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Silent nodes",
            "Expressway peers that sent nothing for nodes.silence_after (or never): their failures are invisible.",
            f"sum(min by (cluster, node) ({sel('certwatch_node_silent', NODE)})) or vector(0)",
            thresholds((None, "green"), (1, "orange")),
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "certwatch up",
            "certwatch instances (targets of the Prometheus job $job) that answer. 0: certwatch is down or "
            "unreachable and this dashboard shows old data.",
            'sum(up{job="$job"}) or vector(0)',
            thresholds((None, "red"), (1, "green")),
        ),
        4,
        4,
    )


def incidents_row(layout: Layout) -> None:
    layout.row("Incidents")
    active = sel("certwatch_incident_active", INCIDENT)
    key = f"{INCIDENT_KEY}, enforced"
    started = sel("certwatch_incident_started_timestamp_seconds", INCIDENT)
    failures = sel("certwatch_cert_verify_failures_total", INCIDENT)
    bad_gateway = sel("certwatch_bad_gateway_total", INCIDENT)
    # 502s carry no `enforced` label: join them to the incident (many incidents, one 502 series per key)
    joined_502s = f"{active} * on ({INCIDENT_KEY}) group_left max by ({INCIDENT_KEY}) ({bad_gateway})"
    layout.add(
        table(
            "Active incidents",
            "One row per active incident. fix: the one-line remediation of the cause (the steps are in the "
            "daemon's incident_opened log line and /api/v1/incidents). since: first failure, message time.",
            [
                target("A", f"max by ({key}, fix) ({with_fix(started)}) * 1000", table=True),
                target(
                    "B",
                    f"max by ({key}, fix) ({with_fix(f'max by ({key}) ({failures}) and on ({key}) {active}')})",
                    table=True,
                ),
                target("C", f"max by ({key}, fix) ({with_fix(joined_502s)})", table=True),
            ],
            [
                "cluster",
                "node",
                "origin",
                "port",
                "cause",
                "fix",
                "enforced",
                "Value #A",
                "Value #B",
                "Value #C",
            ],
            {"Value #A": "since", "Value #B": "cert failures", "Value #C": "502s"},
            [
                override("fix", mappings=fix_mappings(), custom__minWidth=380),
                override("enforced", mappings=enforced_mappings(), custom__cellOptions={"type": "color-text"}),
                override("since", unit="dateTimeAsIso"),
                override("port", mappings=[{"type": "value", "options": {"": {"index": 0, "text": "unknown"}}}]),
                override("502s", unit="none", decimals=0),
                override("cert failures", unit="none", decimals=0),
            ],
            "502s",
        ),
        24,
        9,
    )
    layout.add(
        timeseries(
            "502s per origin",
            "HTTP 502 responses to MRA clients per origin, counted per $__rate_interval (cause "
            '"uncorrelated": no certificate failure explains them).',
            [target("A", window_count(bad_gateway, "origin", INCIDENT_KEY), "{{origin}}")],
            "none",
            bars=True,
            stack=True,
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "Verify failures by cause",
            "Certificate verification failures (enforced and permissive) per cause, counted per $__rate_interval.",
            [target("A", window_count(failures, "cause", key), "{{cause}}")],
            "none",
            bars=True,
            stack=True,
        ),
        8,
        8,
    )
    responses = sel("certwatch_origin_responses_total", INCIDENT)
    layout.add(
        timeseries(
            "Responses per origin",
            "Responses sent to MRA clients per origin and status class, counted per $__rate_interval "
            "(request lines: only from peers whose syslog includes Debug).",
            [
                target(
                    "A",
                    window_count(responses, "origin, code_class", "cluster, node, origin, port, code_class"),
                    "{{origin}} {{code_class}}",
                )
            ],
            "none",
            stack=True,
        ),
        8,
        8,
    )
    at_risk = sel("certwatch_incident_active", INCIDENT, 'enforced="false"')
    layout.add(
        table(
            "At-risk origins",
            "Origins whose certificate fails verification while Expressway-C only warns (Action=Continue): they "
            "break once verification is enforced. nodes: peers seeing it.",
            [
                target(
                    "A",
                    f"count by (cluster, origin, port, cause, fix) "
                    f"({with_fix(f'max by ({INCIDENT_KEY}) ({at_risk})')})",
                    table=True,
                )
            ],
            ["cluster", "origin", "port", "cause", "fix", "Value"],
            {"Value": "nodes"},
            [
                override("fix", mappings=fix_mappings(), custom__minWidth=380),
                override("port", mappings=[{"type": "value", "options": {"": {"index": 0, "text": "unknown"}}}]),
            ],
            "nodes",
        ),
        16,
        7,
    )
    layout.add(
        timeseries(
            "Incident changes",
            "Incidents opened, reopened and resolved per $__rate_interval (all clusters; instances merged with max).",
            [
                target(
                    "A",
                    "max by (change) (increase(certwatch_incident_changes_total[$__rate_interval]))",
                    "{{change}}",
                )
            ],
            "none",
            bars=True,
        ),
        8,
        7,
    )


def probe_mappings() -> list[dict[str, Any]]:
    return [
        {
            "type": "value",
            "options": {
                "0": {"index": 0, "text": "FAIL", "color": "red"},
                "1": {"index": 1, "text": "ok", "color": "green"},
            },
        }
    ]


def probes_row(layout: Layout) -> None:
    layout.row("Origin probes")
    success = f"max by (origin, port) ({sel('certwatch_probe_success', PROBE)})"
    status: dict[str, Any] = {
        "type": "state-timeline",
        "title": "Probe status",
        "description": "The last probe of each origin and port, as Expressway-C would connect (ECDSA first) and "
        "against the Expressway-C trust list certwatch was given: ok, or FAIL (a certificate cause, or no TLS "
        "answer).",
        "datasource": DATASOURCE,
        "targets": [target("A", success, "{{origin}}:{{port}}")],
        "fieldConfig": {
            "defaults": {
                "mappings": probe_mappings(),
                "thresholds": thresholds((None, "red"), (1, "green")),
                "custom": {"fillOpacity": 70, "lineWidth": 0},
            },
            "overrides": [],
        },
        "options": {"showValue": "auto", "mergeValues": True, "rowHeight": 0.9, "legend": {"showLegend": False}},
    }
    layout.add(status, 12, 8)
    errors = sel("certwatch_probe_errors_total", PROBE)
    layout.add(
        table(
            "Probes",
            "status: the last probe. last probe: when it finished. errors in range: probes that judged no "
            "certificate over the dashboard range (connection refused, timeout, DNS, reset, unreachable, no TLS).",
            [
                target("A", success, table=True),
                target(
                    "B", f"max by (origin, port) ({sel('certwatch_probe_timestamp_seconds', PROBE)}) * 1000", table=True
                ),
                target(
                    "C",
                    f"sum by (origin, port) (max by (origin, port, reason) (increase({errors}[$__range])))",
                    table=True,
                ),
            ],
            ["origin", "port", "Value #A", "Value #B", "Value #C"],
            {"Value #A": "status", "Value #B": "last probe", "Value #C": "errors in range"},
            [
                override("status", mappings=probe_mappings(), custom__cellOptions={"type": "color-text"}),
                override("last probe", unit="dateTimeAsIso"),
                override("errors in range", unit="none", decimals=0),
            ],
            "errors in range",
        ),
        12,
        8,
    )
    layout.add(
        table(
            "Probe failures",
            "Origins whose last probe failed with a certificate cause: Expressway-C will refuse them where it "
            "enforces verification, before any 502. fix: the one-line remediation of the cause "
            "(certwatch probe prints the certificates and the steps).",
            [
                target(
                    "A",
                    f"max by (origin, port, cause, fix) ({with_fix(sel('certwatch_probe_cause', PROBE))})",
                    table=True,
                )
            ],
            ["origin", "port", "cause", "fix"],
            {},
            [override("fix", mappings=fix_mappings(), custom__minWidth=380)],
            "origin",
            hidden=("Value",),
            descending=False,
        ),
        12,
        7,
    )
    not_after = sel("certwatch_origin_cert_not_after_timestamp_seconds", PROBE)
    layout.add(
        table(
            "Days to expiry",
            "Days until each certificate an origin sends to the probe expires (depth 0: the origin's own, 1 and up: "
            f"its CAs). Orange under {EXPIRY_WARNING_DAYS} days, red under {EXPIRY_CRITICAL_DAYS} (the thresholds "
            "of the CertwatchOriginCertificateExpiresSoon alert); negative: expired.",
            [target("A", f"(min by (origin, port, depth, key_type) ({not_after}) - time()) / 86400", table=True)],
            ["origin", "port", "depth", "key_type", "Value"],
            {"key_type": "key", "Value": "days to expiry"},
            [
                override(
                    "days to expiry",
                    unit="none",
                    decimals=1,
                    thresholds=thresholds(
                        (None, "red"), (EXPIRY_CRITICAL_DAYS, "orange"), (EXPIRY_WARNING_DAYS, "green")
                    ),
                    custom__cellOptions={"type": "color-background"},
                ),
            ],
            "days to expiry",
            descending=False,
        ),
        12,
        7,
    )


def nodes_row(layout: Layout) -> None:
    layout.row("Expressway nodes")
    layout.add(
        timeseries(
            "Messages per node",
            "Syslog messages received from each Expressway peer.",
            [
                target(
                    "A",
                    f"max by (cluster, node) (rate({sel('certwatch_node_messages_total', NODE)}[$__rate_interval]))",
                    "{{cluster}}/{{node}}",
                )
            ],
            "mps",
        ),
        8,
        8,
    )
    silent: dict[str, Any] = {
        "type": "state-timeline",
        "title": "Node silence",
        "description": "SILENT: the peer sent nothing for nodes.silence_after (or never since certwatch started).",
        "datasource": DATASOURCE,
        "targets": [
            target("A", f"min by (cluster, node) ({sel('certwatch_node_silent', NODE)})", "{{cluster}}/{{node}}")
        ],
        "fieldConfig": {
            "defaults": {
                "mappings": [
                    {
                        "type": "value",
                        "options": {
                            "0": {"index": 0, "text": "receiving", "color": "green"},
                            "1": {"index": 1, "text": "SILENT", "color": "red"},
                        },
                    }
                ],
                "thresholds": thresholds((None, "green"), (1, "red")),
                "custom": {"fillOpacity": 70, "lineWidth": 0},
            },
            "overrides": [],
        },
        "options": {"showValue": "auto", "mergeValues": True, "rowHeight": 0.9, "legend": {"showLegend": False}},
    }
    layout.add(silent, 8, 8)
    layout.add(
        table(
            "Nodes",
            "last message: seconds since the peer's latest message (empty: never). Debug lines at 0: the peer's "
            "remote syslog excludes Debug, so ports are unknown and 502s are joined by time only.",
            [
                target(
                    "A",
                    "time() - max by (cluster, node) "
                    f"({sel('certwatch_node_last_message_timestamp_seconds', NODE)} > 0)",
                    table=True,
                ),
                target("B", f"max by (cluster, node) ({sel('certwatch_node_request_lines_total', NODE)})", table=True),
                target("C", f"min by (cluster, node) ({sel('certwatch_node_silent', NODE)})", table=True),
            ],
            ["cluster", "node", "Value #C", "Value #A", "Value #B"],
            {"Value #A": "last message", "Value #B": "Debug lines", "Value #C": "state"},
            [
                override("last message", unit="s", decimals=0),
                override(
                    "Debug lines",
                    mappings=[{"type": "value", "options": {"0": {"index": 0, "text": "none", "color": "orange"}}}],
                    custom__cellOptions={"type": "color-text"},
                ),
                override(
                    "state",
                    mappings=silent["fieldConfig"]["defaults"]["mappings"],
                    custom__cellOptions={"type": "color-text"},
                ),
            ],
            "state",
        ),
        8,
        8,
    )


def ingest_row(layout: Layout) -> None:
    layout.row("certwatch ingest health")

    def rate(metric: str, by: str) -> str:
        return f"sum by ({by}) (rate({metric}[$__rate_interval]))"

    layout.add(
        timeseries(
            "Messages received",
            "Syslog messages received per certwatch instance and transport.",
            [
                target(
                    "A", rate("certwatch_messages_received_total", "instance, transport"), "{{instance}} {{transport}}"
                )
            ],
            "mps",
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "Messages dropped",
            "Received but not processed, by reason. queue_full: the engine is behind (UDP); sender_refused: "
            "outside allowed_senders; truncated_frame: a TCP/TLS connection closed mid-frame.",
            [target("A", rate("certwatch_messages_dropped_total", "instance, reason"), "{{instance}} {{reason}}")],
            "mps",
            stack=True,
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "Parse failures",
            "Messages that could not be read, by reason (not syslog, bad time stamp, truncated line shapes).",
            [target("A", rate("certwatch_parse_failures_total", "instance, reason"), "{{instance}} {{reason}}")],
            "mps",
            stack=True,
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "Kernel UDP drops",
            "Datagrams the kernel dropped before certwatch read them (per UDP socket, /proc/net/udp), and the "
            "host-wide UDP receive buffer errors (/proc/net/snmp RcvbufErrors, every process).",
            [
                target(
                    "A", rate("certwatch_udp_kernel_drops_total", "instance, listener"), "{{instance}} {{listener}}"
                ),
                target(
                    "B",
                    rate("certwatch_host_udp_receive_buffer_errors_total", "instance"),
                    "{{instance}} host RcvbufErrors",
                ),
            ],
            "pps",
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "Ingress queue",
            "Batches waiting for the engine, against the queue bound. A full queue drops UDP and pauses TCP/TLS.",
            [
                target("A", "max by (instance) (certwatch_ingress_queue_batches)", "{{instance}} waiting"),
                target("B", "max by (instance) (certwatch_ingress_queue_capacity_batches)", "{{instance}} capacity"),
            ],
            "none",
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "Stream errors",
            "TCP/TLS: framing errors, failed TLS handshakes, refused connections and backpressure pauses.",
            [
                target(
                    "A",
                    rate("certwatch_frame_errors_total", "instance, transport, reason"),
                    "{{instance}} {{transport}} {{reason}}",
                ),
                target(
                    "B",
                    rate("certwatch_tls_handshake_failures_total", "instance, reason"),
                    "{{instance}} TLS {{reason}}",
                ),
                target(
                    "C",
                    rate("certwatch_connections_refused_total", "instance, transport, reason"),
                    "{{instance}} {{transport}} refused {{reason}}",
                ),
                target("D", rate("certwatch_backpressure_pauses_total", "instance"), "{{instance}} backpressure"),
            ],
            "ops",
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "State tables",
            "Fill of the bounded state tables (entries / bound), and evictions per second to stay within them.",
            [
                target(
                    "A",
                    "max by (instance, table) (certwatch_state_entries / certwatch_state_capacity)",
                    "{{instance}} {{table}}",
                ),
            ],
            "percentunit",
        ),
        12,
        7,
    )
    layout.add(
        timeseries(
            "Evictions and label overflow",
            "Entries evicted from the state tables, and samples counted under the __overflow__ label set "
            "(metrics.max_series reached): non-zero means the bounds are too small for the traffic.",
            [
                target(
                    "A", rate("certwatch_state_evictions_total", "instance, table"), "{{instance}} evicted {{table}}"
                ),
                target(
                    "B",
                    rate("certwatch_label_overflow_total", "instance, metric"),
                    "{{instance}} overflow {{metric}}",
                ),
            ],
            "ops",
        ),
        12,
        7,
    )


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,  # on time range change
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
    }


def templating() -> list[dict[str, Any]]:
    origin_metrics = "certwatch_cert_verify_failures_total|certwatch_bad_gateway_total|certwatch_origin_responses_total"
    return [
        variable("cluster", "Cluster", "label_values(certwatch_node_messages_total, cluster)"),
        variable("node", "Node", 'label_values(certwatch_node_messages_total{cluster=~"$cluster"}, node)'),
        variable(
            "origin",
            "Origin",
            f'label_values({{__name__=~"{origin_metrics}",cluster=~"$cluster",node=~"$node"}}, origin)',
        ),
        {
            "name": "job",
            "label": "Prometheus job",
            "description": "The Prometheus job that scrapes certwatch (only used by the certwatch up panel).",
            "type": "textbox",
            "query": "certwatch",
            "current": {"selected": False, "text": "certwatch", "value": "certwatch"},
            "options": [{"selected": True, "text": "certwatch", "value": "certwatch"}],
            "hide": 0,
        },
    ]


def dashboard() -> dict[str, Any]:
    layout = Layout()
    summary_row(layout)
    incidents_row(layout)
    probes_row(layout)
    nodes_row(layout)
    ingest_row(layout)
    return {
        "uid": UID,
        "title": TITLE,
        "description": "Cisco Expressway MRA origin certificate-verification incidents, from certwatch run.",
        "tags": ["certwatch", "expressway", "mra"],
        "editable": True,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "liveNow": False,
        "refresh": "30s",
        "schemaVersion": 38,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "version": 1,
        "weekStart": "",
        "fiscalYearStartMonth": 0,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {"list": templating()},
        "panels": layout.panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if argv[1:] == ["--check"]:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            sys.stderr.write(f"{OUTPUT} is stale: run {argv[0]}\n")
            return 1
        return 0
    if argv[1:]:
        sys.stderr.write(f"usage: {argv[0]} [--check]\n")
        return 2
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
