"""Probe results -> the JSON document of ``certwatch probe --format json`` and its text for a terminal. Pure.

The JSON document is built first and the text rendered from it, so both always say the same thing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import orjson

from certwatch.probe.model import OFFERS, ProbeResult


def document(results: Sequence[ProbeResult]) -> dict[str, Any]:
    return {"results": [r.to_json() for r in results]}


def render_json(results: Sequence[ProbeResult]) -> bytes:
    return orjson.dumps(document(results), option=orjson.OPT_INDENT_2) + b"\n"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _headline(results: list[dict[str, Any]]) -> str:
    ok = sum(1 for r in results if r["ok"])
    unreachable = sum(1 for r in results if not r["ok"] and (r["error"] or "").startswith("connect: "))
    failing = len(results) - ok - unreachable
    return f"certwatch probe: {_plural(len(results), 'origin')}: {ok} ok, {failing} failing, {unreachable} unreachable"


def _status(r: dict[str, Any]) -> str:
    if r["ok"]:
        return "OK"
    if r["cause"] is None:
        return f"FAIL {r['error']}"
    depth = "" if r["depth"] is None else f" at depth {r['depth']}"
    return f"FAIL {r['cause']}: {r['error']}{depth}"


def _chain_lines(r: dict[str, Any]) -> list[str]:
    if not r["chain"]:
        return []
    complete = {True: "complete", False: "incomplete", None: "?"}[r["chain_complete"]]
    lines = [f"  chain sent ({complete}):"]
    for c in r["chain"]:
        self_signed = " (self-signed)" if c["subject"] == c["issuer"] else ""
        lines += [
            f"    [{c['depth']}] {c['subject']}",
            f"        issuer {c['issuer']}{self_signed}",
            f"        SAN {', '.join(c['sans']) or '(none)'}",
            (
                f"        {c['key_type']} {c['key_bits']}, {c['signature_algorithm']}, "
                f"valid {c['not_before']} .. {c['not_after']}"
            ),
            f"        SHA-256 {c['sha256']}",
        ]
    return lines


def _offer_lines(r: dict[str, Any]) -> list[str]:
    offers = r["offers"]
    if all(offers[name] is None for name in OFFERS):
        return []
    lines = ["  offers (which certificate each cipher offer gets):"]
    for name in OFFERS:
        o = offers[name]
        if o is None:
            lines.append(f"    {name:<9} refused")
            continue
        verdict = "ok" if o["ok"] else str(o["cause"] or "failed")
        if not o["ok"] and o["depth"] is not None:
            verdict += f" (depth {o['depth']})"
        lines.append(f"    {name:<9} {o['key_type']:<6} {o['sha256'][:23]}  {verdict}")
    return lines


def _fix_lines(r: dict[str, Any], width: int) -> list[str]:
    if r["summary"] is None:
        return []
    lines = [f"  fix: {r['summary']}"]
    for n, step in enumerate(r["remediation"], 1):
        lines += textwrap.wrap(f"{n}. {step}", width, initial_indent="    ", subsequent_indent="       ")
    return lines


def render_text(results: Sequence[ProbeResult], width: int = 110) -> str:
    doc = document(results)["results"]
    out = [_headline(doc)]
    for r in doc:
        where = f" ({r['address']})" if r["address"] else ""
        out += ["", f"{r['origin']}:{r['port']}{where}: {_status(r)}"]
        if r["tls_version"]:
            out.append(f"  {r['tls_version']} {r['cipher']}")
        out += _chain_lines(r) + _offer_lines(r) + _fix_lines(r, width)
    return "\n".join(out) + "\n"
