"""Runs the fuzz targets of ``fuzz_targets.py`` with atheris (libFuzzer), one after another: ``make fuzz``.

    run.py [--seconds N] [--out DIR] [--timeout S] [TARGET ...]   every target (or those named), N seconds each
    run.py --child TARGET -- [libFuzzer flags]                      one target under atheris (what the above runs)
    run.py --replay TARGET DIR...                                   line coverage of the target's modules

For each target, in ``DIR/TARGET/`` (``tests/fuzz/out`` by default, git-ignored): ``seeds/`` (rebuilt from
``examples/``, the golden cases and ``config/certwatch.yaml`` at every run), ``corpus/`` (what libFuzzer found,
kept from one run to the next, so longer and repeated runs go deeper), ``tokens.dict``, ``fuzz.log`` (libFuzzer's
output) and ``artifacts/`` (a crashing, hanging or memory-hungry input, when one is found). Replay one with
``run.py --child TARGET -- DIR/TARGET/artifacts/crash-...``.

The summary gives, per target: executions, libFuzzer's coverage (``cov``: instrumented edges of certwatch reached;
``ft``: features, edges with hit counts), the corpus size, the slowest input, the lines of the target's own
modules the corpus covers (coverage.py, when installed) and the outcome. Exit status 1 when a target found
something (or could not run), else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported at run time only where needed: the child must import certwatch under atheris
    from fuzz_targets import Target

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PACKAGE = ROOT / "daemon" / "certwatch"
sys.path.insert(0, str(HERE))

STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")
STAT = re.compile(r"^stat::(\w+):\s+(\S+)")
ARTIFACT = re.compile(r"Test unit written to (\S+)")


@dataclass
class Outcome:
    name: str
    seconds: float = 0.0
    executions: int = 0
    cov: int = 0
    ft: int = 0
    corpus: str = ""
    slowest: float = 0.0
    peak_rss_mb: int = 0
    lines: str = "-"
    result: str = "ok"
    detail: list[str] = field(default_factory=list)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        return child(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:])
    if argv[:1] == ["--replay"]:
        return replay(argv[1], [Path(p) for p in argv[2:]])
    import fuzz_targets  # noqa: PLC0415 - the parent needs only the registry, never atheris

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "targets", nargs="*", metavar="TARGET", help=f"default: all of {', '.join(fuzz_targets.TARGETS)}"
    )
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "180")))
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take (a hang)")
    args = parser.parse_args(argv)
    unknown = set(args.targets) - set(fuzz_targets.TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    names = args.targets or list(fuzz_targets.TARGETS)
    print(f"fuzzing {len(names)} targets, {args.seconds} s each, in {args.out}", flush=True)
    outcomes = []
    for name in names:
        outcome = fuzz(fuzz_targets.TARGETS[name], args.out / name, args.seconds, args.timeout)
        print(f"  {line(outcome)}", flush=True)
        outcomes.append(outcome)
    summary(outcomes)
    return 0 if all(o.result == "ok" for o in outcomes) else 1


def fuzz(target: Target, where: Path, seconds: int, timeout: int) -> Outcome:
    seeds, corpus, artifacts = where / "seeds", where / "corpus", where / "artifacts"
    shutil.rmtree(seeds, ignore_errors=True)
    for folder in (seeds, corpus, artifacts):
        folder.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(target.seed_inputs()):
        (seeds / f"seed-{i:04d}").write_bytes(seed)
    flags = [
        f"-max_total_time={seconds}",
        f"-max_len={target.max_len}",
        f"-timeout={timeout}",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
    ]
    if target.tokens:
        dictionary = where / "tokens.dict"
        dictionary.write_text("".join(f'"{escape(token)}"\n' for token in target.tokens), encoding="ascii")
        flags.append(f"-dict={dictionary}")
    log = where / "fuzz.log"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        target.name,
        "--",
        *flags,
        str(corpus),
        str(seeds),
    ]
    started = time.monotonic()
    with log.open("wb") as out:
        try:
            code = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, timeout=seconds + 600, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
    outcome = read_log(target.name, log.read_text(encoding="utf-8", errors="replace"), code)
    outcome.seconds = time.monotonic() - started
    outcome.lines = line_coverage(target.name, [corpus, seeds])
    return outcome


def escape(token: str) -> str:
    """A libFuzzer dictionary entry: printable ASCII as is, the rest as \\xNN of its UTF-8 bytes."""
    out = []
    for byte in token.encode():
        char = chr(byte)
        if char in '\\"':
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\x{byte:02X}")
    return "".join(out)


def read_log(name: str, text: str, code: int) -> Outcome:
    outcome = Outcome(name)
    lines = text.splitlines()
    for entry in lines:
        if (m := STATUS.match(entry)) is not None:
            outcome.executions = int(m[1])
            outcome.cov, outcome.ft = int(m[2]), int(m[3])
            outcome.corpus = f"{m[4]}/{m[5]}"
        elif (m := STAT.match(entry)) is not None:
            if m[1] == "number_of_executed_units":
                outcome.executions = int(m[2])
            elif m[1] == "slowest_unit_time_sec":
                outcome.slowest = float(m[2])
            elif m[1] == "peak_rss_mb":
                outcome.peak_rss_mb = int(m[2])
    if code == 0:
        return outcome
    artifacts = ARTIFACT.findall(text)
    if "ALARM: working on the last Unit" in text or any("/timeout-" in a for a in artifacts):
        outcome.result = "hang"
    elif "out-of-memory" in text or any("/oom-" in a for a in artifacts):
        outcome.result = "out of memory"
    elif "Uncaught Python exception" in text:
        outcome.result = "crash"
    else:
        outcome.result = f"failed (exit {code})"
    outcome.detail = [*exception(lines), *(f"input: {a}" for a in artifacts)]
    if not outcome.detail:
        outcome.detail = lines[-15:]
    return outcome


def exception(lines: list[str]) -> list[str]:
    """The exception atheris printed (its last frames and message), or the stack of a hang."""
    for i, entry in enumerate(lines):
        if "Uncaught Python exception" in entry:
            block = []
            for text in lines[i + 1 :]:
                if text.startswith("==") or not text.strip():
                    break
                block.append(text)
            return block[-7:]
        if "=== Timeout:" in entry:
            block = [entry.strip()]
            for text in lines[i + 1 :]:
                if text.startswith("ALARM") or "run.py" in text:
                    break
                block.append(text)
            return block[:8]
    return []


def line_coverage(name: str, folders: list[Path]) -> str:
    """Replay the corpus under coverage.py in a fresh process (no atheris): lines of the target's modules."""
    try:
        import coverage  # noqa: F401, PLC0415
    except ImportError:
        return "-"
    command = [sys.executable, str(Path(__file__).resolve()), "--replay", name, *map(str, folders)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        return "replay timed out"
    if done.returncode != 0 or not done.stdout.strip():
        return "replay failed"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return ", ".join(f"{name} {100.0 * got / total:.0f}%" for name, (got, total) in report["modules"].items() if total)


def line(o: Outcome) -> str:
    return (
        f"{o.name}: {o.result}, {o.executions} executions in {o.seconds:.0f} s, cov {o.cov}, ft {o.ft}, "
        f"corpus {o.corpus or '-'}, slowest {o.slowest:g} s, lines covered: {o.lines}"
    )


def summary(outcomes: list[Outcome]) -> None:
    head = ("target", "executions", "exec/s", "cov", "ft", "corpus", "slowest s", "peak MB", "result", "lines covered")
    rows = [
        (
            o.name,
            str(o.executions),
            str(round(o.executions / o.seconds)) if o.seconds else "-",
            str(o.cov),
            str(o.ft),
            o.corpus or "-",
            f"{o.slowest:g}",
            str(o.peak_rss_mb),
            o.result,
            o.lines,
        )
        for o in outcomes
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print()
    for row in [head, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    for o in outcomes:
        if o.result != "ok":
            print(f"\n{o.name}: {o.result}")
            for entry in o.detail:
                print(f"    {entry}")


# ---- in the child processes -------------------------------------------------------------------------------------


def child(name: str, flags: list[str]) -> int:
    """One target under atheris: certwatch instrumented (its edges are libFuzzer's coverage), then libFuzzer."""
    import atheris  # noqa: PLC0415 - only here: the rest of this file and the smoke test run without it

    atheris.enabled_hooks.add("str")  # str.startswith/endswith comparisons guide the fuzzer
    with atheris.instrument_imports(include=["certwatch"]):
        import fuzz_targets  # noqa: PLC0415

    target = fuzz_targets.TARGETS[name]
    atheris.Setup([sys.argv[0], *flags], target.run)
    atheris.Fuzz()
    return 0


def replay(name: str, folders: list[Path]) -> int:
    """Run the target on every input of ``folders`` under coverage.py; print the line coverage of its modules."""
    import coverage  # noqa: PLC0415

    cov = coverage.Coverage(include=[str(PACKAGE / "*")], data_file=None)
    cov.start()  # before certwatch is imported, so that its module-level lines count
    import fuzz_targets  # noqa: PLC0415

    target = fuzz_targets.TARGETS[name]
    failed = 0
    for folder in folders:
        for path in sorted(folder.iterdir()):
            try:
                target.run(path.read_bytes())
            except Exception:  # noqa: BLE001 - findings are the fuzzing run's to report; here only coverage counts
                failed += 1
    cov.stop()
    modules = {}
    for module in target.modules:
        _, lines, _, missing, _ = cov.analysis2(str(PACKAGE / f"{module}.py"))
        modules[module] = (len(lines) - len(missing), len(lines))
    print(json.dumps({"modules": modules, "failed": failed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
