"""Live incidents: the correlator's findings as the daemon shows them (API, metrics, one log line per change).

An incident is a finding with the same key (node, origin, port, cause, enforced). Active incidents are shown until
they resolve; resolved ones for ``incidents.keep_resolved`` more, then forgotten (their counters stay).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from certwatch.correlate import Change, Correlator, Finding
from certwatch.hints import DEFAULT_LANGUAGE, Language
from certwatch.remediate import remediation, summary
from certwatch.report import cluster_nodes, findings_doc
from certwatch.telemetry import Telemetry

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

    def on_change(self, finding: Finding, change: Change, _now: float) -> None:
        """The correlator's listener: count the change and write one structured log line carrying the fix."""
        self._telemetry.incident_changes[str(change)] += 1
        if self._log is None:
            return
        key = finding.key
        peers = self._peers(finding)
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
        )  # fmt: skip

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
        for doc, finding in zip(docs, sorted_like(chosen, docs), strict=True):
            doc["status_changed_at"] = datetime.fromtimestamp(finding.changed_at, UTC).isoformat(timespec="seconds")
        return docs


def sorted_like(findings: list[Finding], docs: list[dict[str, Any]]) -> list[Finding]:
    """``findings`` in the order ``findings_doc`` put their documents in."""
    by_key = {(f.key.node, f.key.origin, f.key.port, str(f.key.cause), f.key.enforced): f for f in findings}
    return [by_key[(d["node"], d["origin"], d["port"], d["cause"], d["enforced"])] for d in docs]
