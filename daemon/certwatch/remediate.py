"""The remediation catalog: what to change for each cause. Used by ``analyze``, the daemon's incident API and log
lines, and the generated alert rules.

The texts are in :mod:`certwatch.hints`, one module per language (``hints/en.py``, ``hints/zh_cn.py``); this module
is the one lookup API. Every function takes ``lang`` last (default ``"en"``); the English text is the catalog's
reference, and Cisco menu paths and CLI commands read the same in every language.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Final

from certwatch.hints import DEFAULT_LANGUAGE, Hint, Language, texts
from certwatch.model import Cause

__all__ = ["HINTS", "Hint", "Language", "hints", "port_text", "remediation", "summary"]

HINTS: Final[Mapping[Cause, Hint]] = texts("en").hints  # the English catalog (kept for existing callers)


def hints(lang: Language = DEFAULT_LANGUAGE) -> Mapping[Cause, Hint]:
    """The catalog of ``lang``: one :class:`Hint` per cause."""
    return texts(lang).hints


def summary(cause: Cause, lang: Language = DEFAULT_LANGUAGE) -> str:
    """One line: the short fix for tables, dashboards and alert titles."""
    return texts(lang).hints[cause].summary


def port_text(port: int | None, lang: Language = DEFAULT_LANGUAGE) -> str:
    """``port 6972`` or ``port unknown``, as the steps and the text report say it."""
    pieces = texts(lang).remediation
    return pieces["port"].format(port=port) if port is not None else pieces["port_unknown"]


def _depth_text(cause: Cause, depth: int | None, origin: str, pieces: Mapping[str, str]) -> str:
    if cause is Cause.EXPIRED:
        key = "expired_no_depth" if depth is None else "expired_ca" if depth else "expired_leaf"
    else:
        key = "issuer_no_depth" if depth is None else "issuer_ca" if depth else "issuer_leaf"
    return pieces[key].format(origin=origin, depth=depth)


def _ip_text(origin: str, pieces: Mapping[str, str]) -> str:
    try:
        ipaddress.ip_address(origin)
    except ValueError:
        return pieces["origin_fqdn"].format(origin=origin)
    return pieces["origin_ip"].format(origin=origin)


def remediation(
    cause: Cause,
    origin: str,
    port: int | None,
    depth: int | None = None,
    error: str | None = None,
    cluster_wide_nodes: tuple[str, ...] = (),
    cluster: str | None = None,
    enforced: bool = True,
    lang: Language = DEFAULT_LANGUAGE,
) -> list[str]:
    """The concrete steps for one finding, most useful first. The ``VerifyOriginServer: Off`` workaround is
    offered, as a last resort, only where it helps: an enforced failure of Expressway-C's own verification."""
    language = texts(lang)
    pieces = language.remediation
    hint = language.hints[cause]
    values = {
        "origin": origin,
        "port": port_text(port, lang),
        "depth": pieces["depth_unknown"] if depth is None else str(depth),
        "depth_text": _depth_text(cause, depth, origin, pieces),
        "ip_text": _ip_text(origin, pieces),
        "error_text": pieces["error_text"].format(error=error) if error else "",
    }
    steps = [step.format(**values) for step in hint.steps]
    if len(cluster_wide_nodes) >= 2:
        where = pieces["cluster_named"].format(cluster=cluster) if cluster else pieces["cluster_unnamed"]
        text = pieces["cluster_wide"].format(
            origin=origin,
            count=len(cluster_wide_nodes),
            where=where,
            nodes=pieces["node_separator"].join(cluster_wide_nodes),
        )
        if hint.expressway_side:
            text += pieces["cluster_wide_expressway"]
        steps.insert(1, text)
    if hint.expressway_side and enforced:
        steps.append(pieces["workaround"])
    return steps
