"""Findings -> the JSON document of ``analyze`` (the contract) and its text rendering for a terminal. Pure.

The JSON document is built first; the text is rendered from it, so both always say the same thing. ``lang``
chooses the language of the human text (``summary``, ``remediation``, the text report); keys, causes and statuses
never change.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from certwatch.correlate import Finding, FindingState
from certwatch.hints import DEFAULT_LANGUAGE, Language, texts
from certwatch.redact import redact
from certwatch.remediate import port_text, remediation, summary


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


def finding_dict(
    f: Finding, peers: Sequence[str], redacted: bool = True, lang: Language = DEFAULT_LANGUAGE
) -> dict[str, Any]:
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
        "summary": summary(k.cause, lang),
        "remediation": remediation(
            k.cause,
            k.origin,
            k.port,
            f.depth,
            f.error,
            tuple(peers) if cluster_wide else (),
            f.cluster,
            k.enforced,
            lang=lang,
        ),
        "evidence": [redact(e) if redacted else e for e in f.evidence],
    }


def findings_doc(
    findings: Iterable[Finding],
    redacted: bool = True,
    peers: dict[tuple[str, str], tuple[str, ...]] | None = None,
    lang: Language = DEFAULT_LANGUAGE,
) -> list[dict[str, Any]]:
    """The documents of ``findings`` in report order. ``peers`` (``(cluster, origin) -> nodes``) decides
    cluster-wide; by default, the nodes among ``findings`` themselves."""
    ordered = sorted(findings, key=sort_key)
    if peers is None:
        peers = cluster_nodes(ordered)
    return [finding_dict(f, peers.get((f.cluster, f.key.origin), (f.key.node,)), redacted, lang) for f in ordered]


# ---- text ----------------------------------------------------------------------------------------------------


def _count(messages: dict[str, str] | Any, key: str, n: int) -> str:
    """``1 finding``, ``2 findings``: the message's ``.one`` or ``.other`` form."""
    return str(messages[f"{key}.one" if n == 1 else f"{key}.other"].format(n=n))


def render_text(
    doc: dict[str, Any], evidence_lines: int = 3, width: int = 110, lang: Language = DEFAULT_LANGUAGE
) -> str:
    """A report for a person at a terminal: by cluster, then origin, then cause; worst first.

    Findings that share an origin and a cause (the same problem seen by several peers, or on several ports) are
    listed together and their fix is printed once. ``lang`` is the language of the report's own words; ``doc``
    brings its summaries and steps in the language it was made in.
    """
    messages = texts(lang).report
    findings: list[dict[str, Any]] = doc["findings"]
    out: list[str] = [_headline(findings, doc["stats"], messages), ""]
    if not findings:
        out += [messages["no_findings"], ""]
    groups: dict[tuple[str, str], dict[tuple[str, bool], list[dict[str, Any]]]] = {}
    for f in findings:  # report order: the first finding of a group decides the group's place
        groups.setdefault((f["cluster"], f["origin"]), {}).setdefault((f["cause"], f["enforced"]), []).append(f)
    current = None
    for (cluster, origin), causes in groups.items():
        if cluster != current:
            out.append(messages["cluster"].format(cluster=cluster))
            current = cluster
        out.append(_origin_line(origin, causes, messages))
        for group in causes.values():
            out.extend(_cause_lines(group, evidence_lines, width, lang))
        out.append("")
    out.append(_stats_line(doc["stats"], messages))
    return "\n".join(out) + "\n"


def _origin_line(origin: str, causes: dict[tuple[str, bool], list[dict[str, Any]]], messages: Any) -> str:
    first = next(iter(causes.values()))[0]
    ip = first["origin_ip"]
    line = messages["origin_ip"].format(origin=origin, ip=ip) if ip and ip != origin else origin
    nodes = sorted({f["node"] for group in causes.values() for f in group})
    if first["cluster_wide"]:
        return str(
            messages["cluster_wide"].format(origin=line, nodes=messages["node_separator"].join(first["cluster_nodes"]))
        )
    if len(nodes) == 1:
        return str(messages["on_node"].format(origin=line, node=nodes[0]))
    return line


def _headline(findings: list[dict[str, Any]], stats: dict[str, Any], messages: Any) -> str:
    enforced = sum(1 for f in findings if f["enforced"] and f["status"] == "active")
    at_risk = sum(1 for f in findings if not f["enforced"] and f["status"] == "active")
    resolved = sum(1 for f in findings if f["status"] == "resolved")
    nodes = len({f["node"] for f in findings})
    return str(
        messages["headline"].format(
            findings=_count(messages, "finding", len(findings)),
            nodes=_count(messages, "node", nodes),
            failing=enforced,
            at_risk=at_risk,
            resolved=resolved,
            lines=f"{stats['lines']:,}",
        )
    )


def _cause_lines(group: list[dict[str, Any]], evidence_lines: int, width: int, lang: Language) -> list[str]:
    messages = texts(lang).report
    head = group[0]
    mode = messages["enforced" if head["enforced"] else "at_risk"]
    if not head["error"]:
        cause = messages["cause"].format(mode=mode, cause=head["cause"])
    elif head["depth"] is None:
        cause = messages["cause_error"].format(mode=mode, cause=head["cause"], error=head["error"])
    else:
        cause = messages["cause_error_depth"].format(
            mode=mode, cause=head["cause"], error=head["error"], depth=head["depth"]
        )
    lines = [f"  {cause}"]
    for f in group:
        finding = messages["finding"].format(
            node=f["node"],
            port=port_text(f["port"], lang),
            status=messages[f"status.{f['status']}"],
            failures=_count(messages, "failure", f["cert_failures"]),
            requests=_count(messages, "request", f["bad_gateway"]),
            first=f["first_seen"],
            last=f["last_seen"],
        )
        lines.append(f"    {finding}")
    lines.append("    " + messages["fix"].format(summary=head["summary"]))
    wrap = textwrap.wrap if lang == "en" else wrap_wide
    for i, step in enumerate(head["remediation"], 1):
        lines.extend(
            wrap(step, width, initial_indent=f"      {i}. ", subsequent_indent="         ", break_on_hyphens=False)
        )
    evidence = [e for f in group for e in f["evidence"]][:evidence_lines]
    if evidence:
        lines.append("    " + messages["evidence"])
        for e in evidence:
            first, *rest = e.split("\n")
            lines.append(f"      {first}")
            lines.extend(f"        {r}" for r in rest)
    return lines


def _stats_line(stats: dict[str, Any], messages: Any) -> str:
    text = str(
        messages["stats"].format(
            messages=f"{stats['messages']:,}",
            traffic_server=f"{stats['traffic_server']:,}",
            ignored=f"{stats['ignored']:,}",
            unreadable=f"{stats['parse_failures']:,}",
            uncorrelated=f"{stats['uncorrelated_bad_gateway']:,}",
        )
    )
    missing = stats["nodes_without_request_lines"]
    if missing:
        text += "\n" + messages["no_request_lines"].format(nodes=messages["node_separator"].join(missing))
    return text


# ---- wrapping text with wide characters ----------------------------------------------------------------------

# Chinese line breaking: a line may break between any two wide characters and at spaces, never before closing
# punctuation nor after opening punctuation. Runs of other characters (names, paths) and `code spans` stay whole.
_WIDE: Final = "\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"  # CJK, full-width forms and punctuation
_TOKEN: Final = re.compile(rf"`[^`]*`|\s+|[{_WIDE}]|[^\s`{_WIDE}]+|`")  # a `code span` (a command) stays whole
# full-width , . 、 ; : ? ! ) and closing quotes and brackets; full-width ( and opening ones (escaped: RUF001)
_NO_BREAK_BEFORE: Final = frozenset(
    "\uff0c\u3002\u3001\uff1b\uff1a\uff1f\uff01\uff09\u300b\u300d\u300f\u3011\u3009\u2026,.;:?!)]}"
)
_NO_BREAK_AFTER: Final = frozenset("\uff08\u300a\u300c\u300e\u3010\u3008([{")


def display_width(text: str) -> int:
    """Terminal columns: two for wide and full-width characters, one for the others."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrap_wide(
    text: str,
    width: int,
    *,
    initial_indent: str = "",
    subsequent_indent: str = "",
    break_on_hyphens: bool = False,  # noqa: ARG001 - textwrap.wrap's signature; runs of narrow characters stay whole
) -> list[str]:
    """:func:`textwrap.wrap` for text with Chinese in it, by display width (a wide character takes two columns).
    A run of narrow characters or a `code span` longer than a line is left whole on a line of its own."""
    segments: list[str] = []
    for token in _TOKEN.findall(text):
        glue = (
            segments
            and not token.isspace()
            and not segments[-1].isspace()
            and (token[0] in _NO_BREAK_BEFORE or segments[-1][-1] in _NO_BREAK_AFTER)
        )
        if glue:
            segments[-1] += token
        else:
            segments.append(token)
    lines: list[str] = []
    line, used, empty, space = initial_indent, display_width(initial_indent), True, False
    for segment in segments:
        if segment.isspace():
            space = not empty
            continue
        needed = display_width(segment) + (1 if space else 0)
        if not empty and used + needed > width:
            lines.append(line)
            line, used, space = subsequent_indent, display_width(subsequent_indent), False
            needed = display_width(segment)
        line += (" " if space else "") + segment
        used += needed
        empty, space = False, False
    if not empty:
        lines.append(line)
    return lines
