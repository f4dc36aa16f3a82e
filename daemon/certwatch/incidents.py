"""Live incidents: the correlator's findings as the daemon shows them (API, metrics, one log line per change).

An incident is a finding with the same key (node, origin, port, cause, enforced). Active incidents are shown until
they resolve; resolved ones for ``incidents.keep_resolved`` more, then forgotten (their counters stay).

With ``probes`` on, each incident also carries the latest probe result of its origin and port (``"probe"``), and
``"fix_verified"`` when that probe verified while the incident is still open (:mod:`certwatch.probe.service`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from certwatch.correlate import Change, Correlator, Finding
from certwatch.hints import DEFAULT_LANGUAGE, Language
from certwatch.remediate import remediation, summary
from certwatch.report import cluster_nodes, findings_doc
from certwatch.telemetry import Telemetry

if TYPE_CHECKING:
    from certwatch.probe.service import ProbeService

Logger = Callable[..., Any]


class Incidents:
    """Owns nothing but policy: the correlator is the single writer of the findings it reads."""

    def __init__(
        self,
        telemetry: Telemetry,
        keep_resolved: float,
        log: Logger | None = None,
        language: Language = DEFAULT_LANGUAGE,
    ) -> None:
        self.correlator: Correlator | None = None
        self.keep_resolved = keep_resolved
        self.language = language  # of summary and remediation (hints.language); a reload may change it
        self._telemetry = telemetry
        self._log = log
        self.probes: ProbeService | None = None  # the daemon's probes: their results join the incidents

    def on_change(self, finding: Finding, change: Change, _now: float) -> None:
        """The correlator's listener: count the change and write one structured log line carrying the fix."""
        self._telemetry.incident_changes[str(change)] += 1
        if self._log is None:
            return
        key = finding.key
        peers = self._peers(finding)
        extra: dict[str, Any] = {}
        if (probes := self._probing()) is not None:
            slot = probes.latest(key.origin, key.port)
            extra["probe"] = None if slot is None else slot.document()
        self._log(
            f"incident_{change}",
            cluster=finding.cluster,
            node=key.node,
            origin=key.origin,
            origin_ip=finding.origin_ip,
            port=key.port,
            cause=str(key.cause),
            enforced=key.enforced,
            cert_failures=finding.cert_failures,
            bad_gateway=finding.bad_gateway,
            error=finding.error,
            depth=finding.depth,
            cluster_wide=len(peers) >= 2,
            summary=summary(key.cause, self.language),
            remediation=remediation(
                key.cause, key.origin, key.port, finding.depth, finding.error, peers if len(peers) >= 2 else (),
                finding.cluster, key.enforced, lang=self.language,
            ),
            **extra,
        )  # fmt: skip

    def _probing(self) -> ProbeService | None:
        return self.probes if self.probes is not None and self.probes.enabled else None

    def open_for(self, origin: str, port: int) -> list[Finding]:
        """The open incidents of one origin and port, on every node (indexed by origin)."""
        if self.correlator is None:
            return []
        return [f for f in self.correlator.findings_of_origin(origin) if f.active and f.key.port == port]

    def open_targets(self) -> list[tuple[str, int]]:
        """(origin, port) of every open incident whose port is known, oldest incident first, each once."""
        found = sorted((f for f in self.active() if f.key.port is not None), key=lambda f: f.first_seen)
        return list(dict.fromkeys((f.key.origin, f.key.port) for f in found if f.key.port is not None))

    def _peers(self, finding: Finding) -> tuple[str, ...]:
        """Nodes of the finding's cluster with an active finding for its origin (the index keeps this cheap)."""
        if self.correlator is None:
            return (finding.key.node,)
        same = [f for f in self.correlator.findings_of_origin(finding.key.origin) if f.active or f is finding]
        return cluster_nodes(same).get((finding.cluster, finding.key.origin), (finding.key.node,))

    def _findings(self) -> list[Finding]:
        return self.correlator.findings() if self.correlator is not None else []

    def active(self) -> list[Finding]:
        return [f for f in self._findings() if f.active]

    def forget(self, now: float) -> int:
        """Drop incidents resolved more than ``keep_resolved`` ago."""
        if self.correlator is None:
            return 0
        return self.correlator.forget_resolved(now - self.keep_resolved)

    def documents(
        self, cluster: str | None = None, node: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Active and recently resolved incidents, as ``analyze`` prints findings, filtered."""
        findings = self._findings()
        peers = cluster_nodes(f for f in findings if f.active)
        chosen = [
            f
            for f in findings
            if (cluster is None or f.cluster == cluster)
            and (node is None or f.key.node == node)
            and (status is None or (status == "active") == f.active)
        ]
        docs = findings_doc(chosen, redacted=True, peers=peers, lang=self.language)
        probes = self._probing()
        for doc, finding in zip(docs, sorted_like(chosen, docs), strict=True):
            doc["status_changed_at"] = datetime.fromtimestamp(finding.changed_at, UTC).isoformat(timespec="seconds")
            if probes is not None:
                slot = probes.latest(finding.key.origin, finding.key.port)
                doc["probe"] = None if slot is None else slot.document()
                message = probes.fix_verified(finding)
                doc["fix_verified"] = message is not None
                doc["fix_verified_message"] = message
        return docs


def sorted_like(findings: list[Finding], docs: list[dict[str, Any]]) -> list[Finding]:
    """``findings`` in the order ``findings_doc`` put their documents in."""
    by_key = {(f.key.node, f.key.origin, f.key.port, str(f.key.cause), f.key.enforced): f for f in findings}
    return [by_key[(d["node"], d["origin"], d["port"], d["cause"], d["enforced"])] for d in docs]
