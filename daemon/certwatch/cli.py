"""The ``certwatch`` command. Exit status: 0 when the command ran (whatever it found), 2 on usage, configuration
or input errors (one line on standard error)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import orjson

from certwatch._version import __version__
from certwatch.analyze import Analysis
from certwatch.config import ConfigInvalidError, load, parse_duration
from certwatch.inputs import InputError, open_sources
from certwatch.report import render_text

EXIT_OK = 0
EXIT_USAGE = 2


class _Progress:
    """A progress line on a terminal's standard error for inputs over 64 MiB, at most twice a second."""

    MIN_SIZE = 64 << 20

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._enabled = stream.isatty()
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled or total < self.MIN_SIZE:
            return
        now = time.monotonic()
        if now - self._last < 0.5:
            return
        self._last = now
        self._shown = True
        self._stream.write(f"\rcertwatch: {done >> 20} / {total >> 20} MiB ({100 * done // max(total, 1)}%)  ")
        self._stream.flush()

    def done(self) -> None:
        if self._shown:
            self._stream.write("\r\033[K")
            self._stream.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="certwatch",
        description="Detect and explain Cisco Expressway MRA origin certificate-verification failures.",
    )
    parser.add_argument("--version", action="version", version=f"certwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    analyze = sub.add_parser(
        "analyze",
        help="analyse Expressway log files offline",
        description="Analyse Expressway logs (plain, .gz, or diagnostic archives) and print one finding per "
        "(node, origin, port, cause, enforced).",
    )
    analyze.add_argument("files", nargs="+", metavar="FILE", help="log file, archive, or - for standard input")
    analyze.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    analyze.add_argument("--config", type=Path, metavar="FILE", help="YAML configuration (clusters, windows, bounds)")
    analyze.add_argument("--window", metavar="DURATION", help="join window, e.g. 5s or 500ms (default: 5s)")
    analyze.add_argument("--no-redact", action="store_true", help="show evidence lines unredacted")
    analyze.add_argument(
        "--evidence", type=int, default=3, metavar="N", help="evidence lines per finding in text output (default: 3)"
    )
    return parser


def _fail(message: str) -> int:
    print(f"certwatch: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _analyze(args: argparse.Namespace) -> int:
    overrides = {}
    if args.window is not None:
        try:
            overrides["correlation.join_window"] = parse_duration(args.window)
        except ValueError as exc:
            return _fail(f"--window: {exc}")
    try:
        config = load(args.config, overrides)
    except ConfigInvalidError as exc:
        return _fail(str(exc))
    analysis = Analysis(config)
    progress = _Progress(sys.stderr)
    try:
        for arg in args.files:
            for source in open_sources(arg):
                analysis.feed_source(source, progress)
    except InputError as exc:
        progress.done()
        return _fail(str(exc))
    progress.done()
    doc = analysis.document(redacted=not args.no_redact)
    if args.format == "json":
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        sys.stdout.write(render_text(doc, args.evidence))
    sys.stdout.flush()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "analyze":
            return _analyze(args)
    except BrokenPipeError:  # `certwatch analyze ... | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    return _fail(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
