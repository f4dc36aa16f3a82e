"""``make bench``: how fast ``certwatch analyze`` reads Expressway syslog, whether its memory stays flat as the
input grows, and how it compares with the same counting hand-written in mtail.

What is measured (every measurement runs ``--runs`` times, 3 by default; the best wall time is reported, with the
highest peak RSS of those runs):

1. ``certwatch analyze --format json FILE`` as a child process on a 1,000,000-line and a 3,000,000-line corpus
   (``bench/corpus.py``, seed 1, generated into ``bench/out/`` and reused while the generator is unchanged):
   wall time from fork to exit (interpreter start-up and imports included, also shown alone on an empty
   input), CPU time and the child's peak RSS (``ru_maxrss`` from ``os.wait4``, taken by a minimal helper
   process so that run.py's own size does not leak into it). Lines/s and MB/s (10^6 bytes) follow from the
   wall time. The JSON output must parse and ``stats.lines`` must equal the corpus line count.
2. ``mtail --one_shot`` running ``bench/certwatch.mtail`` on the 1M corpus, measured the same way. Its counts
   (lines, traffic_server lines, 502 events, verify/SNI WARNINGs, SSL ERROR kinds) are printed next to
   certwatch's and the corpus ground truth (``*.manifest.json``), as are expected and reported findings.
3. The goals: >= 1,000,000 lines/s on one core, >= 5x mtail's throughput, peak RSS flat in corpus size.

Both programs are pinned to CPU 0 with ``taskset -c 0`` when it exists; mtail also gets ``GOMAXPROCS=1``.
Exit status: 1 when certwatch fails, prints invalid JSON or miscounts lines (and with ``--strict`` when a goal is
missed), else 0.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import corpus

ROOT: Final = Path(__file__).resolve().parent.parent
OUT: Final = ROOT / "bench" / "out"
CERTWATCH: Final = ROOT / ".venv" / "bin" / "certwatch"
PROGRAM: Final = ROOT / "bench" / "certwatch.mtail"
SIZES: Final = (1_000_000, 3_000_000)
GOAL_LINES_PER_S: Final = 1_000_000
GOAL_MTAIL_RATIO: Final = 5.0
FLAT_RSS: Final = 1.10  # "flat": peak RSS on the largest corpus within 10 % of the smallest


class BenchError(Exception):
    """A measurement that cannot be trusted: the benchmark stops with status 1."""


# ---- corpora -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Corpus:
    path: Path
    manifest: dict[str, Any]

    @property
    def lines(self) -> int:
        return int(self.manifest["lines"])

    @property
    def bytes(self) -> int:
        return int(self.manifest["bytes"])

    @property
    def truth(self) -> dict[str, int]:
        return dict(self.manifest["truth"])


def _reusable(path: Path, lines: int, seed: int) -> dict[str, Any] | None:
    try:
        manifest = json.loads(corpus.manifest_path(path).read_text())
        size = path.stat().st_size
    except (OSError, ValueError):
        return None
    same = (manifest.get("generator"), manifest.get("lines"), manifest.get("seed"), manifest.get("bytes"))
    return manifest if same == (corpus.generator_hash(), lines, seed, size) else None


def ensure_corpus(lines: int, seed: int) -> Corpus:
    """The corpus of ``lines`` lines in ``bench/out/``, generated unless an identical one is there."""
    path = OUT / f"corpus-{lines}-seed{seed}.log"
    manifest = _reusable(path, lines, seed)
    if manifest is not None:
        print(corpus.summary(manifest, path.relative_to(ROOT)) + " (reused)")
        return Corpus(path, manifest)
    started = time.perf_counter()
    manifest = corpus.generate(lines, path, seed)
    print(corpus.summary(manifest, path.relative_to(ROOT), time.perf_counter() - started))
    os.sync()  # no write-back of the new file competing with the first measurement
    return Corpus(path, manifest)


# ---- measuring a child process -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float  # seconds, spawn to exit
    cpu: float  # user + system seconds of the child
    rss_kib: int  # peak resident set size of the child


@dataclass(frozen=True, slots=True)
class Measurement:
    best: Sample  # the run with the lowest wall time
    rss_kib: int  # the highest peak RSS over all runs
    runs: int

    @property
    def rss_mib(self) -> float:
        return self.rss_kib / 1024


def revision() -> str:
    """The checkout being measured (other work lands while benchmarks run: say which code produced the figures)."""
    argv = ["git", "-C", str(ROOT), "describe", "--always", "--dirty"]
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"


def pin_prefix() -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", "0"] if taskset else []


# Runs one command (argv[2:]) and writes "wall cpu maxrss_kib exit_code" to argv[1]. Linux carries the parent's
# RSS high-water mark into a forked child across exec, so a child forked by run.py could never report less than
# run.py's own peak; this minimal interpreter (``-I -S``) is the one that forks: its few MiB are the floor.
_HELPER: Final = """
import os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(out, "w") as f:
    f.write(f"{wall} {ru.ru_utime + ru.ru_stime} {ru.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def spawn(argv: Sequence[str], stdout: Path, stderr: Path, env: dict[str, str] | None = None) -> Sample:
    """Run ``argv`` to completion, output in files; wall time, CPU time and peak RSS of exactly that process."""
    usage = stdout.with_suffix(".usage")
    with stdout.open("wb") as out, stderr.open("wb") as err:
        helper = [sys.executable, "-I", "-S", "-c", _HELPER, str(usage), *argv]
        subprocess.run(helper, stdout=out, stderr=err, env=env, check=True)
    wall, cpu, rss, code = usage.read_text().split()
    if int(code) != 0:
        tail = stderr.read_text(errors="replace").strip().splitlines()[-5:]
        raise BenchError(f"{' '.join(argv)} exited with status {code}:\n  " + "\n  ".join(tail))
    return Sample(float(wall), float(cpu), int(rss))


def measure(argv: Sequence[str], stdout: Path, runs: int, env: dict[str, str] | None = None) -> Measurement:
    stderr = stdout.with_suffix(".stderr")
    samples = [spawn(argv, stdout, stderr, env) for _ in range(runs)]
    best = min(samples, key=lambda s: s.wall)
    return Measurement(best, max(s.rss_kib for s in samples), runs)


# ---- certwatch -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertwatchResult:
    corpus: Corpus
    measurement: Measurement
    doc: dict[str, Any]

    @property
    def stats(self) -> dict[str, Any]:
        return dict(self.doc["stats"])


def certwatch_argv(path: Path) -> list[str]:
    return [*pin_prefix(), str(CERTWATCH), "analyze", "--format", "json", str(path)]


def run_certwatch(c: Corpus, runs: int) -> CertwatchResult:
    out = OUT / f"certwatch-{c.lines}.json"
    measurement = measure(certwatch_argv(c.path), out, runs)
    try:
        doc = json.loads(out.read_bytes())
        lines = doc["stats"]["lines"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"certwatch printed no valid JSON document for {c.path}: {exc} (see {out})") from None
    if lines != c.lines:
        raise BenchError(f"certwatch counted stats.lines={lines:,} but {c.path} has {c.lines:,} lines")
    return CertwatchResult(c, measurement, doc)


def startup(runs: int) -> tuple[Measurement, Measurement]:
    """certwatch on an empty input (the fixed cost in every wall time), and ``true`` (the RSS floor)."""
    empty = OUT / "empty.log"
    empty.write_bytes(b"")
    floor = measure(["true"], OUT / "true.out", 1)
    return measure(certwatch_argv(empty), OUT / "certwatch-empty.json", runs), floor


# ---- mtail ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MtailResult:
    measurement: Measurement
    doc: dict[str, Any]

    def values(self, name: str) -> Iterator[tuple[dict[str, str], int]]:
        """``(labels, value)`` of every series of metric ``name`` in mtail's one-shot JSON."""
        for metric in self.doc.get(name, []):
            keys = metric.get("Keys") or []
            for series in metric.get("LabelValues", []):
                labels = dict(zip(keys, series.get("Labels") or [], strict=True))
                yield labels, int(series["Value"]["Value"])

    def total(self, name: str, **match: str) -> int:
        return sum(v for labels, v in self.values(name) if all(labels.get(k) == x for k, x in match.items()))


def run_mtail(c: Corpus, runs: int) -> MtailResult | None:
    mtail = shutil.which("mtail")
    if mtail is None:
        print("mtail not found: the comparison is skipped (make bench installs it: .ci/debs.sh mtail)")
        return None
    argv = [*pin_prefix(), mtail, "--one_shot", "--one_shot_format=json", "--progs", str(PROGRAM)]
    argv += ["--logs", str(c.path), "--logtostderr", "--address", "127.0.0.1", "--port", "0"]
    out = OUT / f"mtail-{c.lines}.json"
    measurement = measure(argv, out, runs, os.environ | {"GOMAXPROCS": "1"})
    try:
        doc = json.loads(out.read_bytes())
    except ValueError as exc:
        raise BenchError(f"mtail printed no valid JSON document: {exc} (see {out})") from None
    return MtailResult(measurement, doc)


# ---- reporting -----------------------------------------------------------------------------------------------


def lines_per_s(c: Corpus, m: Measurement) -> float:
    return c.lines / m.best.wall


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_throughput(results: Sequence[CertwatchResult], empty: Measurement, floor: Measurement) -> None:
    print("\ncertwatch analyze --format json")
    print(
        f"  {'corpus lines':>13} {'MB':>9} {'wall s':>7} {'cpu s':>7} {'lines/s':>10} {'MB/s':>7} {'peak RSS MiB':>13}"
    )
    for r in results:
        c, m = r.corpus, r.measurement
        print(
            f"  {c.lines:>13,} {c.bytes / 1e6:>9,.1f} {m.best.wall:>7.2f} {m.best.cpu:>7.2f} "
            f"{lines_per_s(c, m):>10,.0f} {c.bytes / 1e6 / m.best.wall:>7.1f} {m.rss_mib:>13.1f}"
        )
    print(
        f"  start-up alone (empty input): {empty.best.wall:.2f} s wall, {empty.rss_mib:.1f} MiB peak RSS "
        f"(RSS floor of the method: {floor.rss_mib:.1f} MiB)"
    )
    for r in results:
        s = r.stats
        steady = r.corpus.lines / max(r.measurement.best.wall - empty.best.wall, 1e-9)
        print(
            f"  {r.corpus.lines:,} lines: stats.lines matches; {len(r.doc['findings'])} findings, "
            f"{s['parse_failures']} parse failures, {s['bad_gateway']:,} 502s ({s['uncorrelated_bad_gateway']} "
            f"uncorrelated); {steady:,.0f} lines/s without start-up"
        )


def print_mtail(c: Corpus, cw: CertwatchResult, mt: MtailResult) -> None:
    m = mt.measurement
    print("\nmtail --one_shot (bench/certwatch.mtail)")
    print(
        f"  {c.lines:,} lines: {m.best.wall:.2f} s wall, {m.best.cpu:.2f} s cpu, {lines_per_s(c, m):,.0f} lines/s, "
        f"{c.bytes / 1e6 / m.best.wall:.1f} MB/s, {m.rss_mib:.1f} MiB peak RSS"
    )
    ratio = lines_per_s(c, cw.measurement) / lines_per_s(c, m)
    print(f"  certwatch / mtail throughput: {ratio:.2f}x")


# Finding causes that do not come from a verify WARNING (certwatch's cause names, model.Cause).
_NOT_VERIFY: Final = ("name_mismatch", "peer_rejected_client_cert", "handshake_failure")


def cross_check_rows(c: Corpus, cw: CertwatchResult, mt: MtailResult | None) -> list[tuple[str, Any, Any, Any]]:
    """``(what, corpus truth, certwatch, mtail)``; ``None`` where a program does not count that."""
    t, s = c.truth, cw.stats
    verify, sni = t.get("verify_warnings", 0), t.get("sni_warnings", 0)
    peer, handshake = t.get("ssl:peer_alert", 0), t.get("ssl:handshake", 0)
    by_cause: dict[str, int] = {}
    for f in cw.doc["findings"]:
        by_cause[f["cause"]] = by_cause.get(f["cause"], 0) + f["cert_failures"]
    alerts = {cause: by_cause.pop(cause, 0) for cause in _NOT_VERIFY}

    def m(name: str, **match: str) -> int | None:
        return mt.total(name, **match) if mt is not None else None

    ssl, http = "expressway_origin_ssl_errors_total", "expressway_http_error_responses_total"
    return [
        ("lines", c.lines, s["lines"], m("expressway_log_lines_total")),
        (
            "traffic_server messages",
            t.get("ts_message", 0),
            s["traffic_server"],
            m("expressway_traffic_server_lines_total"),
        ),
        ("continuation lines", t.get("continuation_lines", 0), s["continuation_lines"], None),
        (
            "502s (Event lines; certwatch: per txn)",
            t.get("bad_gateway_events", 0),
            s["bad_gateway"],
            m(http, status="502"),
        ),
        ("502s without a certificate cause", t.get("bad_gateway_other", 0), s["uncorrelated_bad_gateway"], None),
        (
            "verify WARNINGs (certwatch: from findings)",
            verify,
            sum(by_cause.values()),
            m("expressway_origin_verify_failures_total"),
        ),
        (
            "SNI WARNINGs (certwatch: from findings)",
            sni,
            alerts["name_mismatch"],
            m("expressway_origin_sni_mismatch_total"),
        ),
        (
            "ERROR certificate verify failed",
            t.get("ssl:verify_failed", 0),
            s["absorbed_errors"],
            m(ssl, kind="verify_failed"),
        ),
        ("ERROR peer alert", peer, alerts["peer_rejected_client_cert"], m(ssl, kind="peer_alert")),
        ("ERROR handshake failure", handshake, alerts["handshake_failure"], m(ssl, kind="handshake")),
        ("certificate failures (WARNINGs + alerts)", verify + sni + peer + handshake, s["cert_failures"], None),
        ("findings", len(c.manifest["expected_findings"]), len(cw.doc["findings"]), None),
    ]


def print_cross_check(c: Corpus, cw: CertwatchResult, mt: MtailResult | None) -> None:
    print(f"\ncross-check on the {c.lines:,}-line corpus (corpus = ground truth written by bench/corpus.py)")
    print(f"  {'':46} {'corpus':>10} {'certwatch':>10} {'mtail':>10}")
    for label, truth, cw_value, mt_value in cross_check_rows(c, cw, mt):
        got = [v for v in (cw_value, mt_value) if v is not None]
        mark = "" if all(v == truth for v in got) else "  <- differs"
        print(f"  {label:46} {fmt(truth):>10} {fmt(cw_value):>10} {fmt(mt_value):>10}{mark}")
    print(
        "  certwatch counts a 502 once per transaction (its Sending Response 502 and Event line are one); every 502 "
        "in the corpus\n  has an Event line, so the 502 rows should agree. An ERROR 'certificate verify failed' next "
        "to its WARNING adds no\n  count of its own (absorbed). Uncorrelated 502s beyond the corpus's 502s without a "
        "certificate cause are certificate\n  502s certwatch could not attribute; failures attached to the wrong "
        "transaction show up as unexpected findings:"
    )
    print_findings_diff(c, cw)


def print_findings_diff(c: Corpus, cw: CertwatchResult) -> None:
    expected = {(f["node"], f["origin"], f["port"], f["enforced"]): f["fault"] for f in c.manifest["expected_findings"]}
    reported = {(f["node"], f["origin"], f["port"], f["enforced"]): f for f in cw.doc["findings"]}
    for key in sorted(set(expected) - set(reported), key=str):
        print(f"  missing finding: {_key(key)} ({expected[key]})")
    for key in sorted(set(reported) - set(expected), key=str):
        f = reported[key]
        print(
            f"  unexpected finding: {_key(key)} cause={f['cause']} status={f['status']} "
            f"cert_failures={f['cert_failures']} bad_gateway={f['bad_gateway']}"
        )


def _key(key: tuple[str, str, int | None, bool]) -> str:
    node, origin, port, enforced = key
    return f"{node} {origin}:{port if port is not None else '-'}{'' if enforced else ' (permissive)'}"


def goal_rows(results: Sequence[CertwatchResult], mt: MtailResult | None) -> list[tuple[str, str, bool | None]]:
    first, last = results[0], results[-1]
    rate = lines_per_s(first.corpus, first.measurement)
    rows: list[tuple[str, str, bool | None]] = [
        (
            f">= {GOAL_LINES_PER_S:,} lines/s on one core",
            f"{rate:,.0f} lines/s ({first.corpus.lines:,} lines, start-up included)",
            rate >= GOAL_LINES_PER_S,
        )
    ]
    if mt is not None:
        ratio = rate / lines_per_s(first.corpus, mt.measurement)
        detail = f"{ratio:.2f}x (mtail {lines_per_s(first.corpus, mt.measurement):,.0f} lines/s)"
        rows.append((f">= {GOAL_MTAIL_RATIO:g}x mtail", detail, ratio >= GOAL_MTAIL_RATIO))
    else:
        rows.append((f">= {GOAL_MTAIL_RATIO:g}x mtail", "not measured (no mtail)", None))
    if last is not first:
        growth = last.measurement.rss_kib / first.measurement.rss_kib
        detail = (
            f"{first.measurement.rss_mib:.1f} MiB at {first.corpus.lines:,} lines, "
            f"{last.measurement.rss_mib:.1f} MiB at {last.corpus.lines:,} ({100 * (growth - 1):+.1f} %)"
        )
        rows.append((f"flat memory (within {100 * (FLAT_RSS - 1):.0f} %)", detail, growth <= FLAT_RSS))
    return rows


def print_goals(rows: Sequence[tuple[str, str, bool | None]]) -> None:
    print("\nsummary")
    print(f"  {'goal':34} {'result':66} status")
    for goal, result, met in rows:
        status = "n/a" if met is None else ("met" if met else "MISSED")
        print(f"  {goal:34} {result:66} {status}")


# ---- profiling -----------------------------------------------------------------------------------------------


def profile(c: Corpus, top: int) -> None:
    """cProfile of ``Analysis.feed_source`` in this process: where the time of a run goes."""
    from certwatch.analyze import Analysis  # noqa: PLC0415 - only --profile needs the package in-process
    from certwatch.config import load  # noqa: PLC0415
    from certwatch.inputs import open_sources  # noqa: PLC0415

    analysis = Analysis(load(None))
    profiler = cProfile.Profile()
    for source in open_sources(str(c.path)):
        profiler.enable()
        analysis.feed_source(source)
        profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    print(f"\ncProfile of Analysis.feed_source on {c.path.name} (top {top} by own time; profiling slows it down)")
    print(text.getvalue().rstrip())


# ---- main ----------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="certwatch analyze benchmark (make bench)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; the best is reported (default 3)")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(x) for x in text.split(",")],
        default=list(SIZES),
        help="corpus sizes in lines, comma-separated; mtail runs on the first (default: 1000000,3000000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--profile", action="store_true", help="also profile feed_source on the first corpus")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a goal is missed")
    args = parser.parse_args(argv)
    if args.runs < 1 or not args.sizes or min(args.sizes) < 1:
        parser.error("--runs and --sizes must be positive")
    return args


def bench(args: argparse.Namespace) -> list[tuple[str, str, bool | None]]:
    if not CERTWATCH.exists():
        raise BenchError(f"{CERTWATCH} not found: run make install first")
    OUT.mkdir(parents=True, exist_ok=True)
    pinned = "pinned to CPU 0 (taskset -c 0)" if pin_prefix() else "NOT pinned (taskset not found)"
    started = revision()
    print(f"certwatch benchmark at {started}: {pinned}, mtail with GOMAXPROCS=1, best of {args.runs} runs")
    corpora = [ensure_corpus(lines, args.seed) for lines in args.sizes]
    empty, floor = startup(args.runs)
    results = [run_certwatch(c, args.runs) for c in corpora]
    print_throughput(results, empty, floor)
    mt = run_mtail(corpora[0], args.runs)
    if mt is not None:
        print_mtail(corpora[0], results[0], mt)
    print_cross_check(corpora[0], results[0], mt)
    if args.profile:
        profile(corpora[0], 20)
    rows = goal_rows(results, mt)
    print_goals(rows)
    if (ended := revision()) != started:
        print(f"  WARNING: the checkout changed during the run ({started} -> {ended}): the figures mix versions")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        rows = bench(args)
    except BenchError as exc:
        print(f"\nbench: FAILED: {exc}", file=sys.stderr)
        return 1
    if args.strict and any(met is False for _, _, met in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
