"""``certwatch analyze``: scan logs with the fast reader, run the shared engine, build the report document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from certwatch.config import Config
from certwatch.engine import TRAFFIC_SERVER, Engine
from certwatch.inputs import Source
from certwatch.reader import ReadStats, Scanner
from certwatch.report import findings_doc

Progress = Callable[[int, int], None]
_NEEDLE = TRAFFIC_SERVER.encode()


class Analysis:
    """Feeds sources through one :class:`Engine`; the state at the end of the input is the report."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.engine = Engine(config.engine(), config.node_clusters(), config.input.zone)
        self.read = ReadStats()
        self.sources: list[str] = []

    def feed_source(self, source: Source, progress: Progress | None = None) -> None:
        engine = self.engine
        feed = engine.feed
        engine.headers.reference = source.mtime
        scanner = Scanner(_NEEDLE, self.config.input.max_message_bytes)
        for chunk in source.chunks():
            feed(scanner.feed(chunk))
            engine.correlator.sweep(engine.latest)
            if progress is not None:
                progress(source.position(), source.size)
        feed(scanner.finish())
        self.read.merge(scanner.stats)
        self.sources.append(source.name)

    def document(self, redacted: bool = True) -> dict[str, Any]:
        """The report: the state at the end of the input (waiting failures decided, nothing expired by time)."""
        self.engine.correlator.flush(self.engine.latest)
        return {
            "findings": findings_doc(self.engine.correlator.findings(), redacted),
            "stats": self.stats(),
        }

    def stats(self) -> dict[str, Any]:
        read, parsed = self.read, self.engine.stats
        correlator = self.engine.correlator
        failures = dict(parsed.failures)
        failures["not_syslog"] += read.not_syslog
        failures["orphan_continuation"] += read.orphan_lines
        skipped = read.messages - parsed.messages - read.not_syslog  # well-formed lines the scanner skipped
        return {
            "lines": read.lines,
            "messages": read.messages,
            "traffic_server": parsed.traffic_server,
            "ignored": skipped + parsed.ignored,
            "parse_failures": sum(failures.values()),
            "uncorrelated_bad_gateway": correlator.stats.uncorrelated_bad_gateway,
            "nodes_without_request_lines": sorted(n for n, i in correlator.nodes() if i.request_lines == 0),
            "parse_failure_reasons": {k: v for k, v in sorted(failures.items()) if v},
            "events": parsed.events,
            "bad_gateway": correlator.stats.bad_gateway,
            "cert_failures": correlator.stats.cert_failures,
            "absorbed_errors": correlator.stats.absorbed_errors,
            "deferred_failures": correlator.stats.deferred_failures,
            "overlong_lines": read.overlong_lines,
            "invalid_utf8": parsed.invalid_utf8,
            "blank_lines": read.blank_lines,
            "continuation_lines": read.continuation_lines,
            "evictions": {k: v for k, v in correlator.table_evictions().items() if v},
            "unexpected_transitions": correlator.stats.unexpected_transitions,
            "inputs": list(self.sources),
        }
