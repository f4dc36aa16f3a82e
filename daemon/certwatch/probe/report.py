"""Probe results -> the JSON document of ``certwatch probe --format json`` and its text for a terminal. Pure.

The JSON document is built first and the text rendered from it, so both always say the same thing. ``lang`` is the
language of the text report's own words (the ``probe`` texts of :mod:`certwatch.hints`); summaries and steps come
in the language the results were made in. Keys, causes, OpenSSL errors and certificate facts never change.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from certwatch.hints import DEFAULT_LANGUAGE, Language, texts
from certwatch.probe.model import OFFERS, ProbeResult
from certwatch.report import wrap_wide


def document(results: Sequence[ProbeResult]) -> dict[str, Any]:
    return {"results": [r.to_json() for r in results]}


def render_json(results: Sequence[ProbeResult]) -> bytes:
    return orjson.dumps(document(results), option=orjson.OPT_INDENT_2) + b"\n"


def _headline(results: list[dict[str, Any]], text: Mapping[str, str]) -> str:
    ok = sum(1 for r in results if r["ok"])
    unreachable = sum(1 for r in results if not r["ok"] and (r["error"] or "").startswith("connect: "))
    failing = len(results) - ok - unreachable
    origins = text["origin.one" if len(results) == 1 else "origin.other"].format(n=len(results))
    return text["headline"].format(origins=origins, ok=ok, failing=failing, unreachable=unreachable)


def _status(r: dict[str, Any], text: Mapping[str, str]) -> str:
    if r["ok"]:
        return text["status.ok"]
    if r["cause"] is None:
        return text["status.error"].format(error=r["error"])
    if r["depth"] is None:
        return text["status.cause"].format(cause=r["cause"], error=r["error"])
    return text["status.cause_depth"].format(cause=r["cause"], error=r["error"], depth=r["depth"])


def _chain_lines(r: dict[str, Any], text: Mapping[str, str]) -> list[str]:
    if not r["chain"]:
        return []
    complete = text[{True: "chain.complete", False: "chain.incomplete", None: "chain.unknown"}[r["chain_complete"]]]
    lines = ["  " + text["chain"].format(complete=complete)]
    for c in r["chain"]:
        issuer = "issuer_self_signed" if c["subject"] == c["issuer"] else "issuer"
        lines += [
            f"    [{c['depth']}] {c['subject']}",
            "        " + text[issuer].format(issuer=c["issuer"]),
            "        " + text["sans"].format(sans=", ".join(c["sans"]) or text["sans.none"]),
            "        "
            + text["key"].format(
                key_type=c["key_type"],
                key_bits=c["key_bits"],
                signature_algorithm=c["signature_algorithm"],
                not_before=c["not_before"],
                not_after=c["not_after"],
            ),
            "        " + text["sha256"].format(sha256=c["sha256"]),
        ]
    return lines


def _offer_lines(r: dict[str, Any], text: Mapping[str, str]) -> list[str]:
    offers = r["offers"]
    if all(offers[name] is None for name in OFFERS):
        return []
    lines = ["  " + text["offers"]]
    for name in OFFERS:
        o = offers[name]
        if o is None:
            lines.append(f"    {name:<9} {text['offer.refused']}")
            continue
        verdict = text["verdict.ok"] if o["ok"] else str(o["cause"] or text["verdict.failed"])
        if not o["ok"] and o["depth"] is not None:
            verdict = text["verdict.depth"].format(verdict=verdict, depth=o["depth"])
        lines.append(f"    {name:<9} {o['key_type']:<6} {o['sha256'][:23]}  {verdict}")
    return lines


def _fix_lines(r: dict[str, Any], width: int, text: Mapping[str, str], lang: Language) -> list[str]:
    if r["summary"] is None:
        return []
    lines = ["  " + text["fix"].format(summary=r["summary"])]
    wrap = textwrap.wrap if lang == "en" else wrap_wide
    for n, step in enumerate(r["remediation"], 1):
        lines += wrap(f"{n}. {step}", width, initial_indent="    ", subsequent_indent="       ")
    return lines


def render_text(results: Sequence[ProbeResult], width: int = 110, lang: Language = DEFAULT_LANGUAGE) -> str:
    text = texts(lang).probe
    doc = document(results)["results"]
    out = [_headline(doc, text)]
    for r in doc:
        address = text["address"].format(address=r["address"]) if r["address"] else ""
        out += ["", text["result"].format(origin=r["origin"], port=r["port"], address=address, status=_status(r, text))]
        if r["tls_version"]:
            out.append(f"  {r['tls_version']} {r['cipher']}")
        out += _chain_lines(r, text) + _offer_lines(r, text) + _fix_lines(r, width, text, lang)
    return "\n".join(out) + "\n"
