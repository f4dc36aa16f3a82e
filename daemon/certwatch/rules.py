"""Prometheus alerting and recording rules for certwatch, generated from the metric contract and the remediation
catalog: ``certwatch render-rules`` writes ``deploy/prometheus/certwatch-rules.yml`` (a test keeps it current), and
``certwatch render-rules --lang zh-CN`` the same rules with Simplified Chinese annotations,
``deploy/prometheus/certwatch-rules.zh-CN.yml``. Names, expressions and labels are the same in every language.

Every rule aggregates the ``instance`` and ``job`` labels away: the documented deployment sends every Expressway
peer's syslog to two certwatch instances, which therefore export the same series, and two healthy instances must raise
one alert, not two. ``max`` (never ``sum``) merges them, so no count is doubled; a node is silent when it is silent on
every instance (``min``). Only the loss of every instance is critical; the loss of one is a warning.

The probe alerts (``certwatch.probes``) read what the daemon's origin probes export (``probes:``; both instances
probe the same targets, merged the same way: ``max``, and ``min`` for a certificate's expiry). Their ``for:`` is
chosen for the default probe interval of 5 minutes: a probe result is a gauge that holds until the next probe, so a
``for:`` shorter than one interval confirms nothing. :data:`FOR_PREDICTS` and :data:`FOR_FIX_VERIFIED` (10m) wait
for the next probe (5 minutes, give or take the 10 % jitter) to agree, so a balanced origin whose nodes answer
differently, or a certificate caught mid-change, does not page; a prediction comes before any 502, so 10 minutes
cost nothing, and a fix whose incidents resolve within them (the peers were fine all along) raises nothing. Expiry
does not flap: :data:`FOR_EXPIRES_CRITICAL` (10m, under 7 days) only confirms the series, and
:data:`FOR_EXPIRES_WARNING` (1h, under 30 days: weeks of slack) also lets a chain seen during a renewal go by. The
prediction alerts carry the catalog's steps for an at-risk failure (no ``VerifyOriginServer: Off`` workaround: no
request fails yet); Alertmanager silences one while the enforced incident alert of the same origin, port and cause
fires, and the expiry warning while the critical one fires.

The incident alerts carry the catalog's steps (:func:`certwatch.remediate.remediation`) as Prometheus templates: the
steps are rendered once with sentinel origin and port values, which are then replaced by ``{{ $labels.origin }}`` and
a port template that prints what :func:`~certwatch.remediate.remediation` prints (``port 6972`` or ``port unknown``);
steps that read differently for an IP address become a template ``if`` on the origin. The certificate depth is not a
metric label: a step the catalog cannot phrase for an unknown depth is shown for depth 0 and for depth 1 or more. For
concrete labels, :func:`incident_annotations` and :func:`cluster_wide_annotations` give the text Prometheus will
produce; the promtool tests compare the two. The other annotations are the ``rules`` texts of
:mod:`certwatch.hints`, their Prometheus template expressions filled in here.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from certwatch.hints import DEFAULT_LANGUAGE, LANGUAGES, Language, texts
from certwatch.model import Cause
from certwatch.remediate import port_text, remediation, summary

DEFAULT_JOB: Final = "certwatch"
DEFAULT_RUNBOOK: Final = "https://github.com/certwatch/certwatch/blob/main/README.md"
HEADER: Final = texts("en").rules["header"]
EXIT_OK: Final = 0
EXIT_ERROR: Final = 2

# README sections the runbook_url annotations point at (GitHub heading anchors).
ANCHOR_CAUSES: Final = "causes"
ANCHOR_SENDING: Final = "pointing-expressway-at-certwatch"
ANCHOR_DAEMON: Final = "certwatch-run"
ANCHOR_METRICS: Final = "metrics"
ANCHOR_PROBE: Final = "certwatch-probe"
ANCHORS: Final = (ANCHOR_CAUSES, ANCHOR_SENDING, ANCHOR_DAEMON, ANCHOR_METRICS, ANCHOR_PROBE)

# Alert names (the incident alerts come in one rule per cause, under one name each).
FAILING: Final = "CertwatchOriginCertificateFailing"
AT_RISK: Final = "CertwatchOriginCertificateAtRisk"
CLUSTER_WIDE: Final = "CertwatchOriginFailingClusterWide"

INCIDENT_BY: Final = "cluster, node, origin, port, cause"
FOR_FAILING: Final = "1m"
FOR_AT_RISK: Final = "5m"
FOR_CLUSTER_WIDE: Final = "1m"

# Probe alert names: one prediction rule per cause, one expiry rule per severity, under one name each.
PREDICTS: Final = "CertwatchProbePredictsFailure"
EXPIRES: Final = "CertwatchOriginCertificateExpiresSoon"
FIX_VERIFIED: Final = "CertwatchProbeFixVerified"

PROBE_BY: Final = "origin, port"
CERTIFICATE_BY: Final = "origin, port, depth, key_type"
FOR_PREDICTS: Final = "10m"
FOR_FIX_VERIFIED: Final = "10m"
EXPIRES_WARNING_DAYS: Final = 30
EXPIRES_CRITICAL_DAYS: Final = 7
FOR_EXPIRES_WARNING: Final = "1h"
FOR_EXPIRES_CRITICAL: Final = "10m"

ORIGIN: Final = "{{ $labels.origin }}"
IP_PATTERN: Final = "^[0-9.]+$|:"  # an IPv4 or IPv6 address (host names have letters and no colon)
NODE: Final = "{{ $labels.node }}"
CLUSTER: Final = "{{ $labels.cluster }}"
VALUE: Final = "{{ $value }}"
REASON: Final = "{{ $labels.reason }}"
LOGGING: Final = "Maintenance > Logging > Remote syslog servers"  # the Expressway menu, in every language

# Sentinels: rendered by the catalog, then replaced by templates. None of them can occur in the catalog's own text.
_ORIGIN_NAME: Final = "origin.certwatch.invalid"
_ORIGIN_IP: Final = "192.0.2.254"
_PORT: Final = 65099
_CLUSTER: Final = "cluster.certwatch.invalid"
_NODES: Final = ("node-a.certwatch.invalid", "node-b.certwatch.invalid")

_JOB_RE: Final = re.compile(r"[A-Za-z0-9_.:/-]+")


class RulesError(ValueError):
    """An unusable job name or runbook URL, or a catalog text the renderer cannot template."""


# ---- incident texts ------------------------------------------------------------------------------------------------


def port_template(lang: Language = DEFAULT_LANGUAGE) -> str:
    """The template that prints what :func:`~certwatch.remediate.port_text` prints, from the ``port`` label."""
    pieces = texts(lang).remediation
    known = pieces["port"].format(port="{{ $labels.port }}")
    return f"{{{{ if $labels.port }}}}{known}{{{{ else }}}}{pieces['port_unknown']}{{{{ end }}}}"


PORT: Final = port_template()


def alert_steps(
    cause: Cause, origin: str, port: int | None, enforced: bool = True, lang: Language = DEFAULT_LANGUAGE
) -> list[str]:
    """The catalog's steps for an incident as the alert shows them: the depth is not a label, and the catalog
    phrases an unknown depth itself, so these are :func:`~certwatch.remediate.remediation`'s own, verbatim."""
    return remediation(cause, origin, port, enforced=enforced, lang=lang)


def _replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise RulesError(f"cannot template {text!r}: {old!r} not found")
    return text.replace(old, new)


def _replace_count(text: str, count: int, new: str) -> str:
    """The one number ``count`` in ``text`` (not part of a longer number) replaced by ``new``."""
    result, found = re.subn(rf"(?<!\d){count}(?!\d)", lambda _: new, text)
    if found != 1:
        raise RulesError(f"cannot template {text!r}: the count {count} occurs {found} times")
    return result


def _check_catalog_text(text: str) -> None:
    if "{{" in text or "}}" in text:
        raise RulesError(f"catalog text would be read as a Prometheus template: {text!r}")


def _template(text: str, origin: str, lang: Language) -> str:
    """A step rendered for the sentinels, with the sentinels replaced by templates."""
    _check_catalog_text(text)
    text = text.replace(origin, ORIGIN).replace(port_text(_PORT, lang), port_template(lang))
    for sentinel in (_ORIGIN_NAME, _ORIGIN_IP, str(_PORT)):
        if sentinel in text:
            raise RulesError(f"cannot template {text!r}: {sentinel!r} left")
    return text


def template_steps(cause: Cause, enforced: bool = True, lang: Language = DEFAULT_LANGUAGE) -> list[str]:
    """:func:`alert_steps` as Prometheus templates over the alert's ``origin`` and ``port`` labels."""
    by_name = [_template(step, _ORIGIN_NAME, lang) for step in alert_steps(cause, _ORIGIN_NAME, _PORT, enforced, lang)]
    by_ip = [_template(step, _ORIGIN_IP, lang) for step in alert_steps(cause, _ORIGIN_IP, _PORT, enforced, lang)]
    return [
        name if name == ip else f"{{{{ if match `{IP_PATTERN}` $labels.origin }}}}{ip}{{{{ else }}}}{name}{{{{ end }}}}"
        for name, ip in zip(by_name, by_ip, strict=True)
    ]


def _cluster_wide_step(
    cause: Cause, origin: str, cluster: str, nodes: Sequence[str], lang: Language = DEFAULT_LANGUAGE
) -> str:
    """The catalog's cluster-wide step (the one :func:`~certwatch.remediate.remediation` inserts)."""
    plain = remediation(cause, origin, None, lang=lang)
    wide = remediation(cause, origin, None, cluster_wide_nodes=tuple(nodes), cluster=cluster, lang=lang)
    if len(wide) != len(plain) + 1 or wide[:1] + wide[2:] != plain:
        raise RulesError(f"{cause}: the catalog no longer inserts one cluster-wide step second")
    return wide[1]


@dataclass(frozen=True, slots=True)
class _Incident:
    """What the incident texts say, as concrete values or as templates."""

    cluster: str
    node: str
    origin: str
    port: str  # "port 6972", "port unknown" or the port template
    steps: Sequence[str]


def _incident_texts(cause: Cause, enforced: bool, v: _Incident, runbook: str, lang: Language) -> dict[str, str]:
    text = texts(lang).rules
    fix = summary(cause, lang)
    where = text["incident.where"].format(node=v.node, cluster=v.cluster, origin=v.origin, port=v.port)
    kind = "failing" if enforced else "at_risk"
    lines = [
        text[f"{kind}.lead"].format(where=where, cause=cause),
        text["incident.fix"].format(fix=fix),
        *(f"{number}. {step}" for number, step in enumerate(v.steps, 1)),
        text["incident.details"].format(node=v.node),
    ]
    return {
        "summary": text[f"{kind}.summary"].format(node=v.node, origin=v.origin, port=v.port, cause=cause, fix=fix),
        "description": "\n".join(lines),
        "runbook_url": f"{runbook}#{ANCHOR_CAUSES}",
    }


def incident_annotations(
    cause: Cause,
    enforced: bool,
    *,
    cluster: str,
    node: str,
    origin: str,
    port: int | None,
    runbook: str = DEFAULT_RUNBOOK,
    lang: Language = DEFAULT_LANGUAGE,
) -> dict[str, str]:
    """The annotations Prometheus gives the enforced (or at-risk) incident alert of these labels."""
    values = _Incident(cluster, node, origin, port_text(port, lang), alert_steps(cause, origin, port, enforced, lang))
    return _incident_texts(cause, enforced, values, runbook, lang)


def _cluster_wide_texts(
    cause: Cause, cluster: str, origin: str, count: str, step: str, runbook: str, lang: Language
) -> dict[str, str]:
    text = texts(lang).rules
    fix = summary(cause, lang)
    lines = [
        step,
        text["wide.cause"].format(cause=cause, origin=origin),
        text["wide.fix"].format(fix=fix, alert=FAILING),
    ]
    return {
        "summary": text["wide.summary"].format(origin=origin, count=count, cluster=cluster, cause=cause, fix=fix),
        "description": "\n".join(lines),
        "runbook_url": f"{runbook}#{ANCHOR_CAUSES}",
    }


def cluster_wide_annotations(
    cause: Cause,
    *,
    cluster: str,
    origin: str,
    nodes: Sequence[str],
    runbook: str = DEFAULT_RUNBOOK,
    lang: Language = DEFAULT_LANGUAGE,
) -> dict[str, str]:
    """The annotations Prometheus gives the cluster-wide alert of these labels (``nodes`` sorted)."""
    step = _cluster_wide_step(cause, origin, cluster, nodes, lang)
    return _cluster_wide_texts(cause, cluster, origin, str(len(nodes)), step, runbook, lang)


# ---- probe texts ---------------------------------------------------------------------------------------------------


def _predicts_texts(
    cause: Cause, origin: str, port: str, target: str, steps: Sequence[str], runbook: str, lang: Language
) -> dict[str, str]:
    text = texts(lang).rules
    fix = summary(cause, lang)
    lines = [
        text["predicts.lead"].format(origin=origin, port=port, cause=cause),
        text["incident.fix"].format(fix=fix),
        *(f"{number}. {step}" for number, step in enumerate(steps, 1)),
        text["predicts.details"].format(target=target),
    ]
    return {
        "summary": text["predicts.summary"].format(origin=origin, port=port, cause=cause, fix=fix),
        "description": "\n".join(lines),
        "runbook_url": f"{runbook}#{ANCHOR_CAUSES}",
    }


def predicts_annotations(
    cause: Cause, *, origin: str, port: int, runbook: str = DEFAULT_RUNBOOK, lang: Language = DEFAULT_LANGUAGE
) -> dict[str, str]:
    """The annotations Prometheus gives the prediction alert of these labels: the catalog's steps for an origin
    that fails verification where it is not enforced yet (no workaround: no request fails)."""
    steps = alert_steps(cause, origin, port, enforced=False, lang=lang)
    return _predicts_texts(cause, origin, port_text(port, lang), f"{origin}:{port}", steps, runbook, lang)


@dataclass(frozen=True, slots=True)
class _Expiry:
    """What the expiry texts say, as concrete values or as templates."""

    origin: str
    port: str
    certificate: str  # expires.leaf or expires.ca, filled
    when: str  # expires.in or expires.expired, filled
    fix: str  # expires.fix_leaf or expires.fix_ca, filled


def _expiry_texts(v: _Expiry, runbook: str, lang: Language) -> dict[str, str]:
    text = texts(lang).rules
    values = {"certificate": v.certificate, "origin": v.origin, "port": v.port, "when": v.when}
    return {
        "summary": text["expires.summary"].format(**values),
        "description": text["expires.description"].format(**values, fix=v.fix),
        "runbook_url": f"{runbook}#{ANCHOR_PROBE}",
    }


def _expiry_template(lang: Language) -> _Expiry:
    text = texts(lang).rules
    key_type, depth = "{{ $labels.key_type }}", "{{ $labels.depth }}"

    def by_depth(leaf: str, ca: str) -> str:
        return f'{{{{ if eq $labels.depth "0" }}}}{leaf}{{{{ else }}}}{ca}{{{{ end }}}}'

    duration = text["expires.in"].format(duration="{{ $value | humanizeDuration }}")
    return _Expiry(
        ORIGIN,
        port_template(lang),
        by_depth(
            text["expires.leaf"].format(key_type=key_type), text["expires.ca"].format(key_type=key_type, depth=depth)
        ),
        f"{{{{ if gt $value 0.0 }}}}{duration}{{{{ else }}}}{text['expires.expired']}{{{{ end }}}}",
        by_depth(text["expires.fix_leaf"].format(origin=ORIGIN), text["expires.fix_ca"]),
    )


def expiry_annotations(
    *,
    origin: str,
    port: int,
    depth: int,
    key_type: str,
    seconds: float,
    runbook: str = DEFAULT_RUNBOOK,
    lang: Language = DEFAULT_LANGUAGE,
) -> dict[str, str]:
    """The annotations Prometheus gives the expiry alert of these labels, ``seconds`` before the certificate's
    ``notAfter`` (0 or less: expired)."""
    text = texts(lang).rules
    certificate = (
        text["expires.ca"].format(key_type=key_type, depth=depth)
        if depth
        else text["expires.leaf"].format(key_type=key_type)
    )
    when = text["expires.in"].format(duration=humanize_duration(seconds)) if seconds > 0 else text["expires.expired"]
    fix = text["expires.fix_ca"] if depth else text["expires.fix_leaf"].format(origin=origin)
    return _expiry_texts(_Expiry(origin, port_text(port, lang), certificate, when, fix), runbook, lang)


def humanize_duration(seconds: float) -> str:
    """What Prometheus's ``humanizeDuration`` template function prints for ``seconds`` (``29d 23h 0m 0s``)."""
    if seconds == 0:
        return "0s"
    if abs(seconds) >= 1:
        sign = "-" if seconds < 0 else ""
        whole = int(abs(seconds))
        days, hours, minutes, rest = whole // 86400, whole // 3600 % 24, whole // 60 % 60, whole % 60
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {rest}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {rest}s"
        if minutes:
            return f"{sign}{minutes}m {rest}s"
        return f"{sign}{abs(seconds):.4g}s"
    prefix = ""
    for unit in "munpfazy":
        if abs(seconds) >= 1:
            break
        prefix, seconds = unit, seconds * 1000
    return f"{seconds:.4g}{prefix}s"


def _fix_verified_texts(origin: str, port: str, nodes: str, runbook: str, lang: Language) -> dict[str, str]:
    text = texts(lang).rules
    return {
        "summary": text["fix_verified.summary"].format(origin=origin, port=port),
        "description": text["fix_verified.description"].format(origin=origin, port=port, nodes=nodes),
        "runbook_url": f"{runbook}#{ANCHOR_PROBE}",
    }


def fix_verified_annotations(
    *,
    origin: str,
    port: int,
    nodes: Sequence[str],
    runbook: str = DEFAULT_RUNBOOK,
    lang: Language = DEFAULT_LANGUAGE,
) -> dict[str, str]:
    """The annotations Prometheus gives the fix-verified alert of these labels (``nodes`` sorted: the peers with
    an incident open for that origin and port)."""
    return _fix_verified_texts(origin, port_text(port, lang), ", ".join(nodes), runbook, lang)


# ---- PromQL ------------------------------------------------------------------------------------------------------


def _selector(metric: str, job: str, **matchers: str) -> str:
    pairs = [("job", job), *matchers.items()]
    return metric + "{" + ",".join(f'{name}="{value}"' for name, value in pairs) + "}"


def _listing(query: str, label: str, *args: str) -> str:
    """A template listing ``label`` of the series ``query`` returns, sorted, comma separated.

    ``query`` is a ``printf`` format (``%q`` quotes a label value for PromQL); ``args`` are template expressions.
    """
    call = f"printf `{query}` {' '.join(args)}" if args else f"printf `{query}`"
    return (
        f'{{{{ range $i, $s := query ({call}) | sortByLabel "{label}" }}}}'
        f"{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.{label} }}}}{{{{ end }}}}"
    )


def _alert(
    name: str, expr: str, duration: str, severity: str, annotations: dict[str, str], **labels: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, **labels},
        "annotations": annotations,
    }


def _texts(lang: Language, name: str, url: str, **values: str) -> dict[str, str]:
    """The ``summary`` and ``description`` of the rule texts ``name``, filled with ``values``, and the runbook."""
    text = texts(lang).rules
    return {
        "summary": text[f"{name}.summary"].format(**values),
        "description": text[f"{name}.description"].format(**values),
        "runbook_url": url,
    }


def _incident_rules(job: str, runbook: str, lang: Language) -> list[dict[str, Any]]:
    template = {
        (cause, enforced): template_steps(cause, enforced, lang) for cause in Cause for enforced in (True, False)
    }
    separator = texts(lang).remediation["node_separator"]
    rules = []
    for enforced, name, duration, severity in (
        (True, FAILING, FOR_FAILING, "critical"),
        (False, AT_RISK, FOR_AT_RISK, "warning"),
    ):
        for cause in Cause:
            series = _selector("certwatch_incident_active", job, enforced=str(enforced).lower(), cause=cause)
            values = _Incident(CLUSTER, NODE, ORIGIN, port_template(lang), template[cause, enforced])
            annotations = _incident_texts(cause, enforced, values, runbook, lang)
            expr = f"max by ({INCIDENT_BY}) ({series}) > 0"
            rules.append(_alert(name, expr, duration, severity, annotations, cause=str(cause)))
    for cause in Cause:
        series = _selector("certwatch_incident_active", job, enforced="true", cause=cause)
        nodes_query = "max by (node) (" + series[:-1] + ",cluster=%q,origin=%q})"
        nodes = _listing(nodes_query, "node", "$labels.cluster", "$labels.origin")
        step = _cluster_wide_step(cause, _ORIGIN_NAME, _CLUSTER, _NODES, lang)
        _check_catalog_text(step)
        step = _replace(step, separator.join(_NODES), nodes)
        step = _replace_count(step, len(_NODES), VALUE)
        step = _replace(_replace(step, _ORIGIN_NAME, ORIGIN), _CLUSTER, CLUSTER)
        annotations = _cluster_wide_texts(cause, CLUSTER, ORIGIN, VALUE, step, runbook, lang)
        expr = f"count by (cluster, origin, cause) (max by (cluster, node, origin, cause) ({series})) >= 2"
        rules.append(_alert(CLUSTER_WIDE, expr, FOR_CLUSTER_WIDE, "critical", annotations, cause=str(cause)))
    return rules


def _node_rules(job: str, runbook: str, lang: Language) -> list[dict[str, Any]]:
    silent = _selector("certwatch_node_silent", job)
    last = _selector("certwatch_node_last_message_timestamp_seconds", job)
    requests = _selector("certwatch_node_request_lines_total", job)
    messages = _selector("certwatch_node_messages_total", job)
    latest = f"max by (cluster, node) ({last})"
    no_requests = f"max by (cluster, node) ({requests}) == 0"
    peer = texts(lang).rules["peer"].format(node=NODE, cluster=CLUSTER)
    url = f"{runbook}#{ANCHOR_SENDING}"
    silent_on = _listing(
        _selector("certwatch_node_silent", job)[:-1] + ",cluster=%q,node=%q} == 1",
        "instance",
        "$labels.cluster",
        "$labels.node",
    )
    return [
        _alert(
            "CertwatchNodeNeverHeard",
            f"{latest} == 0",
            "15m",
            "warning",
            _texts(lang, "never_heard", url, peer=peer, logging=LOGGING),
        ),
        _alert(
            "CertwatchNodeSilent",
            f"(min by (cluster, node) ({silent}) == 1) unless on (cluster, node) ({latest} == 0)",
            "1m",
            "warning",
            _texts(lang, "silent", url, peer=peer, logging=LOGGING),
        ),
        _alert(
            "CertwatchNodeNotReachingAllInstances",
            f"(max by (cluster, node) ({silent}) == 1) and on (cluster, node) (min by (cluster, node) ({silent}) == 0)",
            "15m",
            "warning",
            _texts(lang, "some_instances", url, peer=peer, logging=LOGGING, instances=silent_on),
        ),
        _alert(
            "CertwatchNodeNoRequestLines",
            f"({no_requests}) and on (cluster, node) (max by (cluster, node) ({messages}) > 0)",
            "1h",
            "info",
            _texts(lang, "no_request_lines", url, peer=peer, logging=LOGGING),
        ),
    ]


def _probe_rules(job: str, runbook: str, lang: Language) -> list[dict[str, Any]]:
    rules = []
    target = f"{ORIGIN}:{{{{ $labels.port }}}}"
    for cause in Cause:
        series = _selector("certwatch_probe_cause", job, cause=cause)
        steps = template_steps(cause, enforced=False, lang=lang)
        annotations = _predicts_texts(cause, ORIGIN, port_template(lang), target, steps, runbook, lang)
        expr = f"max by ({PROBE_BY}, cause) ({series}) == 1"
        rules.append(_alert(PREDICTS, expr, FOR_PREDICTS, "critical", annotations, cause=str(cause)))
    not_after = _selector("certwatch_origin_cert_not_after_timestamp_seconds", job)
    expiry = _expiry_texts(_expiry_template(lang), runbook, lang)
    for days, duration, severity in (
        (EXPIRES_WARNING_DAYS, FOR_EXPIRES_WARNING, "warning"),
        (EXPIRES_CRITICAL_DAYS, FOR_EXPIRES_CRITICAL, "critical"),
    ):
        expr = f"min by ({CERTIFICATE_BY}) ({not_after}) - time() < {days} * 86400"
        rules.append(_alert(EXPIRES, expr, duration, severity, expiry))
    success = _selector("certwatch_probe_success", job)
    incidents = _selector("certwatch_incident_active", job)
    nodes = _listing(
        "max by (node) (" + incidents[:-1] + ",origin=%q,port=%q})", "node", "$labels.origin", "$labels.port"
    )
    expr = f"(max by ({PROBE_BY}) ({success}) == 1) and on ({PROBE_BY}) (max by ({PROBE_BY}) ({incidents}) > 0)"
    annotations = _fix_verified_texts(ORIGIN, port_template(lang), nodes, runbook, lang)
    rules.append(_alert(FIX_VERIFIED, expr, FOR_FIX_VERIFIED, "info", annotations))
    return rules


_DROP_REASONS: Final = ("queue_full", "sender_refused", "truncated_frame")  # advice per reason; "other": shutdown


def _self_rules(job: str, runbook: str, lang: Language) -> list[dict[str, Any]]:
    text = texts(lang).rules
    up = _selector("up", job)
    dropped = _selector("certwatch_messages_dropped_total", job)
    kernel = _selector("certwatch_udp_kernel_drops_total", job)
    parse = _selector("certwatch_parse_failures_total", job)
    received = _selector("certwatch_messages_received_total", job)
    overflow = _selector("certwatch_label_overflow_total", job)
    incidents = _selector("certwatch_incident_active", job, cause="__overflow__")
    reload_ok = _selector("certwatch_config_last_reload_success", job)
    advice = "".join(
        f'{{{{ {"if" if i == 0 else "else if"} eq $labels.reason "{reason}" }}}}{text[f"dropped.{reason}"]}'
        for i, reason in enumerate(_DROP_REASONS)
    )
    advice += f"{{{{ else }}}}{text['dropped.other']}{{{{ end }}}}"
    daemon_url = f"{runbook}#{ANCHOR_DAEMON}"
    metrics_url = f"{runbook}#{ANCHOR_METRICS}"
    humanized = "{{ $value | humanize }}"
    share = "{{ $value | humanizePercentage }}"
    return [
        _alert(
            "CertwatchDown",
            f"(max({up}) or vector(0)) == 0",
            "5m",
            "critical",
            _texts(lang, "down", daemon_url, job=job),
        ),
        _alert(
            "CertwatchInstanceDown",
            f"count({up} == 0) unless on () (max({up}) == 0)",
            "5m",
            "warning",
            _texts(
                lang, "instance_down", daemon_url, value=VALUE, job=job, instances=_listing(f"{up} == 0", "instance")
            ),
        ),
        _alert(
            "CertwatchConfigReloadFailed",
            f"min({reload_ok}) == 0",
            "0s",
            "warning",
            _texts(lang, "reload_failed", daemon_url, instances=_listing(f"{reload_ok} == 0", "instance")),
        ),
        _alert(
            "CertwatchMessagesDropped",
            f"max by (reason) (increase({dropped}[10m])) > 0",
            "0s",
            "warning",
            _texts(
                lang,
                "dropped",
                daemon_url,
                value=humanized,
                reason=REASON,
                instances=_listing("increase(" + dropped[:-1] + ",reason=%q}[10m]) > 0", "instance", "$labels.reason"),
                advice=advice,
            ),
        ),
        _alert(
            "CertwatchUdpKernelDrops",
            f"max by (listener) (increase({kernel}[10m])) > 0",
            "0s",
            "warning",
            _texts(lang, "kernel_drops", metrics_url, value=humanized, listener="{{ $labels.listener }}"),
        ),
        _alert(
            "CertwatchParseFailures",
            (
                f"max by (reason) (sum by (instance, reason) (rate({parse}[10m])) / on (instance) group_left () "
                f"sum by (instance) (rate({received}[10m]))) > 0.01"
            ),
            "15m",
            "warning",
            _texts(lang, "parse_failures", metrics_url, share=share, reason=REASON),
        ),
        _alert(
            "CertwatchSeriesLimitReached",
            (
                f"max by (metric) (increase({overflow}[15m])) > 0 or "
                f'label_replace(max({incidents}) > 0, "metric", "certwatch_incident_active", "", "")'
            ),
            "0s",
            "warning",
            _texts(lang, "series_limit", metrics_url, metric="{{ $labels.metric }}"),
        ),
    ]


def _recording_rules(job: str) -> list[dict[str, str]]:
    """Two instances export the same series: ``max`` merges them without doubling."""

    def record(metric: str, by: str, rate: bool) -> dict[str, str]:
        series = _selector(metric, job)
        if rate:
            name = f"certwatch:{metric.removesuffix('_total')}:max_rate5m"
            return {"record": name, "expr": f"max by ({by}) (rate({series}[5m]))"}
        return {"record": f"certwatch:{metric}:max", "expr": f"max by ({by}) ({series})"}

    return [
        record("certwatch_incident_active", f"{INCIDENT_BY}, enforced", rate=False),
        record("certwatch_cert_verify_failures_total", f"{INCIDENT_BY}, enforced", rate=True),
        record("certwatch_bad_gateway_total", INCIDENT_BY, rate=True),
        record("certwatch_origin_responses_total", "cluster, node, origin, port, code_class", rate=True),
        record("certwatch_node_messages_total", "cluster, node", rate=True),
        record("certwatch_node_last_message_timestamp_seconds", "cluster, node", rate=False),
    ]


# ---- the document ------------------------------------------------------------------------------------------------


def _check(job: str, runbook: str) -> None:
    if not _JOB_RE.fullmatch(job):
        raise RulesError(f"job {job!r}: use letters, digits and _ . : / - only")
    if not runbook or "#" in runbook or any(c.isspace() for c in runbook) or "`" in runbook or "{" in runbook:
        raise RulesError(f"runbook URL {runbook!r}: give the README address without #anchor, spaces or braces")


def document(
    job: str = DEFAULT_JOB, runbook: str = DEFAULT_RUNBOOK, lang: Language = DEFAULT_LANGUAGE
) -> dict[str, Any]:
    """The rules as the data structure Prometheus reads, annotated in ``lang``.

    Raises:
        RulesError: ``job`` or ``runbook`` is unusable.
    """
    _check(job, runbook)
    return {
        "groups": [
            {"name": "certwatch.recording", "rules": _recording_rules(job)},
            {"name": "certwatch.incidents", "rules": _incident_rules(job, runbook, lang)},
            {"name": "certwatch.probes", "rules": _probe_rules(job, runbook, lang)},
            {"name": "certwatch.nodes", "rules": _node_rules(job, runbook, lang)},
            {"name": "certwatch.self", "rules": _self_rules(job, runbook, lang)},
        ]
    }


class Dumper(yaml.SafeDumper):
    """Block style for multi-line strings, so the descriptions read as text in the file; no anchors or aliases."""

    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 - the same for every node
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


Dumper.add_representer(str, _str)


def render(job: str = DEFAULT_JOB, runbook: str = DEFAULT_RUNBOOK, lang: Language = DEFAULT_LANGUAGE) -> str:
    """The rules file: the same bytes for the same arguments.

    Args:
        job: The Prometheus ``job`` label of the certwatch targets.
        runbook: Address of the README; the ``runbook_url`` annotations append its section anchors.
        lang: Language of the annotations (and of the file's header comment).

    Raises:
        RulesError: ``job`` or ``runbook`` is unusable.
    """
    body = yaml.dump(
        document(job, runbook, lang), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=1 << 16, indent=2
    )
    return texts(lang).rules["header"] + body


# ---- certwatch render-rules --------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``certwatch render-rules`` options to its (sub)parser; :func:`run` reads the namespace."""
    parser.add_argument("--output", "-o", type=Path, metavar="FILE", help="write the rules to FILE (default: stdout)")
    parser.add_argument(
        "--job", default=DEFAULT_JOB, metavar="NAME", help="job label of the certwatch targets (default: certwatch)"
    )
    parser.add_argument(
        "--runbook-url",
        default=DEFAULT_RUNBOOK,
        metavar="URL",
        help=f"README the runbook_url annotations point into, section anchors appended (default: {DEFAULT_RUNBOOK})",
    )
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=DEFAULT_LANGUAGE,
        help="language of the annotations (default: en); zh-CN gives deploy/prometheus/certwatch-rules.zh-CN.yml",
    )


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically: a reader (Prometheus reloading) sees the old file or the new one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    """Run ``certwatch render-rules``.

    Args:
        args: The namespace parsed by a parser set up with :func:`add_arguments`.

    Returns:
        0 when the rules were written; 2 on an unusable option or an unwritable file, with one line on standard error.
    """
    try:
        text = render(args.job, args.runbook_url, args.lang)
        if args.output is None:
            sys.stdout.write(text)
        else:
            _write(args.output, text)
    except RulesError as exc:
        sys.stderr.write(f"certwatch render-rules: error: {exc}\n")
        return EXIT_ERROR
    except OSError as exc:
        sys.stderr.write(f"certwatch render-rules: error: {args.output}: {exc.strerror or exc}\n")
        return EXIT_ERROR
    return EXIT_OK
