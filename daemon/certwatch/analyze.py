"""``certwatch analyze``: scan logs with the fast reader, run the shared engine, build the report document.

Two ways to run, with the same output by construction (one engine sees the same messages in the same order):

* in one process (:meth:`Analysis.feed_source`): read, scan, parse and correlate in turn;
* with a reader process (:meth:`Analysis.feed_files`, ``--jobs 2``, the default on a machine with two cores or
  more): a forked child opens the inputs, decompresses and scans them (:class:`~certwatch.reader.Scanner`) and sends
  each chunk's ``traffic_server`` messages through a pipe while this process runs the engine on the previous
  chunk. The pipe's buffer bounds what is in flight; an input error in the child is raised here as in one process.
  Standard input (``-``) is always read in one process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from certwatch.config import Config
from certwatch.engine import TRAFFIC_SERVER, Engine
from certwatch.hints import DEFAULT_LANGUAGE, Language
from certwatch.inputs import InputError, Source, open_sources
from certwatch.reader import ReadStats, Scanner
from certwatch.report import findings_doc

Progress = Callable[[int, int], None]
_NEEDLE = TRAFFIC_SERVER.encode()


def default_jobs() -> int:
    """Two processes (reader and engine) when this process may use two cores or more, else one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return 2 if cores > 1 else 1


class Analysis:
    """Feeds sources through one :class:`Engine`; the state at the end of the input is the report."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.engine = Engine(config.engine(), config.node_clusters(), config.input.zone)
        self.read = ReadStats()
        self.sources: list[str] = []

    def feed_files(self, files: Sequence[str], jobs: int, progress: Progress | None = None) -> None:
        """Every input named in ``files`` (paths, ``-``), with a reader process when ``jobs`` > 1. Standard input
        is read in this process (a child process's standard input is ``/dev/null``): its writer is the other job."""
        if jobs <= 1 or "-" in files:
            for arg in files:
                for source in open_sources(arg):
                    self.feed_source(source, progress)
            return
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(
            target=_read, args=(files, self.config.input.max_message_bytes, sender), name="certwatch-reader"
        )
        child.start()
        sender.close()
        try:
            self._consume(receiver, progress)
        finally:
            receiver.close()
            child.join(5.0)
            if child.is_alive():
                child.kill()
                child.join()

    def _consume(self, receiver: Connection, progress: Progress | None) -> None:
        engine = self.engine
        while True:
            try:
                item = receiver.recv()
            except EOFError:
                raise InputError("the reader process ended unexpectedly") from None
            what = item[0]
            if what == "chunk":
                engine.feed(item[1])
                engine.correlator.sweep(engine.latest)
                if progress is not None:
                    progress(item[2], item[3])
            elif what == "source":
                engine.headers.reference = item[2]
                self.sources.append(item[1])
            elif what == "end":
                engine.feed(item[1])
                self.read.merge(item[2])
            elif what == "error":
                raise InputError(item[1])
            else:  # done
                return

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

    def document(self, redacted: bool = True, lang: Language = DEFAULT_LANGUAGE) -> dict[str, Any]:
        """The report: the state at the end of the input (waiting failures decided, nothing expired by time);
        its human text (summaries, steps) in ``lang``."""
        self.engine.correlator.flush(self.engine.latest)
        return {
            "findings": findings_doc(self.engine.correlator.findings(), redacted, lang=lang),
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


def _read(files: Sequence[str], limit: int, sender: Connection) -> None:
    """The reader process: open, decompress and scan every input; send what the engine needs, in order."""
    try:
        for arg in files:
            for source in open_sources(arg):
                sender.send(("source", source.name, source.mtime))
                scanner = Scanner(_NEEDLE, limit)
                for chunk in source.chunks():
                    sender.send(("chunk", scanner.feed(chunk), source.position(), source.size))
                sender.send(("end", scanner.finish(), scanner.stats))
        sender.send(("done",))
    except InputError as exc:
        sender.send(("error", str(exc)))
    except (BrokenPipeError, KeyboardInterrupt):  # the engine side stopped first
        pass
    finally:
        sender.close()
