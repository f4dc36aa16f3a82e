"""Findings -> the JSON document of ``analyze`` (the contract) and its text rendering for a terminal. Pure.

The JSON document is built first; the text is rendered from it, so both always say the same thing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from certwatch.correlate import Finding, FindingState
from certwatch.model import Cause
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
            k.cause, k.origin, k.port, f.depth, f.error, tuple(peers) if cluster_wide else (), f.cluster
        ),
        "evidence": [redact(e) if redacted else e for e in f.evidence],
    }


def findings_doc(findings: Iterable[Finding], redacted: bool = True) -> list[dict[str, Any]]:
    ordered = sorted(findings, key=sort_key)
    peers = cluster_nodes(ordered)
    return [finding_dict(f, peers[(f.cluster, f.key.origin)], redacted) for f in ordered]


# ---- text ----------------------------------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render_text(doc: dict[str, Any], evidence_lines: int = 3) -> str:
    """A report for a person at a terminal: grouped by cluster and origin, worst first."""
    findings: list[dict[str, Any]] = doc["findings"]
    stats: dict[str, Any] = doc["stats"]
    out: list[str] = [_headline(findings, stats), ""]
    if not findings:
        out.append("No certificate-verification failures found.")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in findings:  # already in report order: the first finding of a group decides its place
        groups.setdefault((f["cluster"], f["origin"]), []).append(f)
    current_cluster = None
    for (cluster, origin), group in groups.items():
        if cluster != current_cluster:
            out.append(f"== cluster {cluster} ==")
            current_cluster = cluster
        ip = group[0]["origin_ip"]
        out.append(f"{origin}" + (f" ({ip})" if ip and ip != origin else ""))
        for f in group:
            out.extend(_finding_lines(f, evidence_lines))
        out.append("")
    out.append(_stats_line(stats))
    return "\n".join(out) + "\n"


def _headline(findings: list[dict[str, Any]], stats: dict[str, Any]) -> str:
    enforced = sum(1 for f in findings if f["enforced"] and f["status"] == "active")
    at_risk = sum(1 for f in findings if not f["enforced"] and f["status"] == "active")
    resolved = sum(1 for f in findings if f["status"] == "resolved")
    nodes = len({f["node"] for f in findings})
    return (
        f"certwatch analyze: {_plural(len(findings), 'finding')} on {_plural(nodes, 'node')} "
        f"({enforced} failing, {at_risk} at risk, {resolved} resolved) from {stats['lines']:,} lines"
    )


def _finding_lines(f: dict[str, Any], evidence_lines: int) -> list[str]:
    mode = "ENFORCED" if f["enforced"] else "AT RISK (permissive)"
    port = f"port {f['port']}" if f["port"] is not None else "port unknown"
    lines = [
        f"  [{mode}] {f['cause']} on {f['node']}, {port}: {f['status']}",
        (
            f"    {_plural(f['cert_failures'], 'certificate failure')}, "
            f"{_plural(f['bad_gateway'], 'failed request')} (502), {f['first_seen']} .. {f['last_seen']}"
        ),
    ]
    if f["error"]:
        depth = f" at depth {f['depth']}" if f["depth"] is not None else ""
        lines.append(f"    error: {f['error']}{depth}")
    if f["cluster_wide"]:
        lines.append(f"    cluster-wide: also failing on {', '.join(n for n in f['cluster_nodes'] if n != f['node'])}")
    lines.append(f"    fix: {f['summary']}")
    lines.extend(f"      {i}. {step}" for i, step in enumerate(f["remediation"], 1))
    if f["evidence"] and evidence_lines:
        lines.append("    evidence:")
        for e in f["evidence"][:evidence_lines]:
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


def causes() -> list[str]:
    return [str(c) for c in Cause]
