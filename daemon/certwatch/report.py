"""Findings -> the JSON document of ``analyze`` (the contract) and its text rendering for a terminal. Pure.

The JSON document is built first; the text is rendered from it, so both always say the same thing.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from certwatch.correlate import Finding, FindingState
from certwatch.redact import redact
from certwatch.remediate import remediation, summary


def iso(ts: float, offset: int) -> str:
    """ISO 8601 with the UTC offset the node wrote its stamp in, milliseconds kept."""
    return datetime.fromtimestamp(ts, timezone(timedelta(seconds=offset))).isoformat(timespec="milliseconds")


def sort_key(f: Finding) -> tuple[Any, ...]:
    """Enforced first, then most 502s, then most certificate failures; ties in a stable, readable order."""
    k = f.key
    return (not k.enforced, -f.bad_gateway, -f.cert_failures, f.cluster, k.origin, k.node, k.port or 0, k.cause)


def cluster_nodes(findings: Iterable[Finding]) -> dict[tuple[str, str], tuple[str, ...]]:
    """``(cluster, origin) -> nodes`` that have a finding for that origin."""
    nodes: dict[tuple[str, str], set[str]] = defaultdict(set)
    for f in findings:
        nodes[(f.cluster, f.key.origin)].add(f.key.node)
    return {k: tuple(sorted(v)) for k, v in nodes.items()}


def finding_dict(f: Finding, peers: Sequence[str], redacted: bool = True) -> dict[str, Any]:
    k = f.key
    cluster_wide = len(peers) >= 2
    return {
        "node": k.node,
        "cluster": f.cluster,
        "origin": k.origin,
        "origin_ip": f.origin_ip,
        "port": k.port,
        "cause": str(k.cause),
        "enforced": k.enforced,
        "status": "resolved" if f.state is FindingState.RESOLVED else "active",
        "cert_failures": f.cert_failures,
        "bad_gateway": f.bad_gateway,
        "error": f.error,
        "depth": f.depth,
        "cluster_wide": cluster_wide,
        "cluster_nodes": list(peers) if cluster_wide else [k.node],
        "first_seen": iso(f.first_seen, f.first_offset),
        "last_seen": iso(f.last_seen, f.last_offset),
        "summary": summary(k.cause),
        "remediation": remediation(
            k.cause, k.origin, k.port, f.depth, f.error, tuple(peers) if cluster_wide else (), f.cluster, k.enforced
        ),
        "evidence": [redact(e) if redacted else e for e in f.evidence],
    }


def findings_doc(
    findings: Iterable[Finding],
    redacted: bool = True,
    peers: dict[tuple[str, str], tuple[str, ...]] | None = None,
) -> list[dict[str, Any]]:
    """The documents of ``findings`` in report order. ``peers`` (``(cluster, origin) -> nodes``) decides
    cluster-wide; by default, the nodes among ``findings`` themselves."""
    ordered = sorted(findings, key=sort_key)
    if peers is None:
        peers = cluster_nodes(ordered)
    return [finding_dict(f, peers.get((f.cluster, f.key.origin), (f.key.node,)), redacted) for f in ordered]


# ---- text ----------------------------------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render_text(doc: dict[str, Any], evidence_lines: int = 3, width: int = 110) -> str:
    """A report for a person at a terminal: by cluster, then origin, then cause; worst first.

    Findings that share an origin and a cause (the same problem seen by several peers, or on several ports) are
    listed together and their fix is printed once.
    """
    findings: list[dict[str, Any]] = doc["findings"]
    out: list[str] = [_headline(findings, doc["stats"]), ""]
    if not findings:
        out += ["No certificate-verification failures found.", ""]
    groups: dict[tuple[str, str], dict[tuple[str, bool], list[dict[str, Any]]]] = {}
    for f in findings:  # report order: the first finding of a group decides the group's place
        groups.setdefault((f["cluster"], f["origin"]), {}).setdefault((f["cause"], f["enforced"]), []).append(f)
    current = None
    for (cluster, origin), causes in groups.items():
        if cluster != current:
            out.append(f"== cluster {cluster} ==")
            current = cluster
        out.append(_origin_line(origin, causes))
        for group in causes.values():
            out.extend(_cause_lines(group, evidence_lines, width))
        out.append("")
    out.append(_stats_line(doc["stats"]))
    return "\n".join(out) + "\n"


def _origin_line(origin: str, causes: dict[tuple[str, bool], list[dict[str, Any]]]) -> str:
    first = next(iter(causes.values()))[0]
    ip = first["origin_ip"]
    line = origin + (f" ({ip})" if ip and ip != origin else "")
    nodes = sorted({f["node"] for group in causes.values() for f in group})
    if first["cluster_wide"]:
        line += f": cluster-wide, failing on {', '.join(first['cluster_nodes'])}"
    elif len(nodes) == 1:
        line += f": on {nodes[0]}"
    return line


def _headline(findings: list[dict[str, Any]], stats: dict[str, Any]) -> str:
    enforced = sum(1 for f in findings if f["enforced"] and f["status"] == "active")
    at_risk = sum(1 for f in findings if not f["enforced"] and f["status"] == "active")
    resolved = sum(1 for f in findings if f["status"] == "resolved")
    nodes = len({f["node"] for f in findings})
    return (
        f"certwatch analyze: {_plural(len(findings), 'finding')} on {_plural(nodes, 'node')} "
        f"({enforced} failing, {at_risk} at risk, {resolved} resolved) from {stats['lines']:,} lines"
    )


def _cause_lines(group: list[dict[str, Any]], evidence_lines: int, width: int) -> list[str]:
    head = group[0]
    mode = "ENFORCED" if head["enforced"] else "AT RISK (permissive: not enforced yet)"
    error = f": {head['error']}" + (f" at depth {head['depth']}" if head["depth"] is not None else "")
    lines = [f"  [{mode}] {head['cause']}{error if head['error'] else ''}"]
    for f in group:
        port = f"port {f['port']}" if f["port"] is not None else "port unknown"
        lines.append(
            f"    {f['node']}, {port}: {f['status']}, {_plural(f['cert_failures'], 'certificate failure')}, "
            f"{_plural(f['bad_gateway'], 'failed request')} (502), {f['first_seen']} .. {f['last_seen']}"
        )
    lines.append(f"    fix: {head['summary']}")
    for i, step in enumerate(head["remediation"], 1):
        lines.extend(
            textwrap.wrap(
                step, width, initial_indent=f"      {i}. ", subsequent_indent="         ", break_on_hyphens=False
            )
        )
    evidence = [e for f in group for e in f["evidence"]][:evidence_lines]
    if evidence:
        lines.append("    evidence:")
        for e in evidence:
            first, *rest = e.split("\n")
            lines.append(f"      {first}")
            lines.extend(f"        {r}" for r in rest)
    return lines


def _stats_line(stats: dict[str, Any]) -> str:
    parts = [
        f"{stats['messages']:,} messages",
        f"{stats['traffic_server']:,} traffic_server",
        f"{stats['ignored']:,} ignored",
        f"{stats['parse_failures']:,} unreadable",
        f"{stats['uncorrelated_bad_gateway']:,} uncorrelated 502s",
    ]
    text = "stats: " + ", ".join(parts)
    missing = stats["nodes_without_request_lines"]
    if missing:
        text += (
            f"\nnote: no request/response lines from {', '.join(missing)}: their remote syslog filter excludes "
            "Debug, so ports are unknown and 502s are joined by time only."
        )
    return text
