"""The ``certwatch`` command: ``run`` (the daemon), ``check-config``, ``analyze`` (offline), ``send`` (replay),
``probe`` (connect to origins).

Exit status: 0 when the command ran (whatever it found); 2 on usage, configuration or input errors, with the
problem on standard error (one line, or one line per configuration problem); 1 when the daemon cannot start
(a port already taken). ``--version`` prints the version.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import orjson

from certwatch import rules, send
from certwatch._version import __version__
from certwatch.analyze import Analysis, default_jobs
from certwatch.config import Config, ConfigInvalidError, env_overrides, load, parse_duration
from certwatch.hints import LANGUAGES, Language, language_from_environ
from certwatch.inputs import InputError
from certwatch.probe import command as probe_command
from certwatch.report import render_text

# The daemon's modules (aiohttp, uvloop, prometheus_client) are imported by `run` and `check-config` only, so the
# other commands start fast.

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
    add_lang_argument(analyze)
    analyze.add_argument(
        "--jobs",
        type=int,
        choices=(1, 2),
        default=default_jobs(),
        help="processes: 2 reads and scans the inputs in a second process while this one correlates (the same "
        "output); default: 2 when two cores or more are available, else 1",
    )

    run = sub.add_parser(
        "run",
        help="run the daemon: receive Expressway syslog, export metrics, incidents and hints",
        description="Receive Expressway syslog over UDP, TCP and TLS; serve /metrics, /healthz, /readyz and "
        "/api/v1/incidents. Without --config: UDP and TCP syslog on 127.0.0.1:5514, HTTP on 127.0.0.1:9514. "
        "CERTWATCH_<KEY> environment variables override the file (__ between levels).",
    )
    run.add_argument("--config", type=Path, metavar="FILE", help="YAML configuration (default: embedded defaults)")

    check = sub.add_parser(
        "check-config",
        help="validate a configuration file (and the environment overrides) without starting",
        description="Validate FILE as `certwatch run --config FILE` would, TLS certificates included; print every "
        "problem and exit 2, or print a summary and exit 0.",
    )
    check.add_argument("file", type=Path, metavar="FILE")

    send_parser = sub.add_parser(
        "send",
        help="replay Expressway log files to a syslog listener",
        description="Replay log files (plain, compressed or diagnostic archives) to HOST:PORT, each message whole.",
    )
    send.add_arguments(send_parser)

    render = sub.add_parser(
        "render-rules",
        help="write the Prometheus alert and recording rules",
        description="Render the Prometheus rules (alerts carry the remediation catalog's steps) to standard output "
        "or --output FILE; deploy/prometheus/certwatch-rules.yml is this command's output, and "
        "deploy/prometheus/certwatch-rules.zh-CN.yml its output with --lang zh-CN.",
    )
    rules.add_arguments(render)

    probe = sub.add_parser(
        "probe",
        help="connect to origins as Expressway-C does and explain their certificates",
        description="Handshake with each origin (CUCM, IM&P, Unity Connection) with Expressway-C's ECDSA-first "
        "cipher preference, then ECDSA-only and RSA-only; verify against the Expressway-C trusted CA list and "
        "report the cause, the certificates served and the fix.",
    )
    probe_command.add_arguments(probe)
    add_lang_argument(probe)
    return parser


def add_lang_argument(parser: argparse.ArgumentParser) -> None:
    """``--lang en|zh-CN`` (``analyze`` and ``probe``): the language of the human text (summaries, steps, the text
    report); JSON keys, causes and statuses never change. Read with :func:`language`."""
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=None,
        help="language of summaries, remediation steps and the text report (default: zh-CN when LC_ALL or LANG "
        "names zh_CN or zh-Hans, else en)",
    )


def language(args: argparse.Namespace) -> Language:
    """``--lang``, or the locale's language when it is not given."""
    chosen: Language | None = args.lang
    return chosen if chosen is not None else language_from_environ(os.environ)


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
        analysis.feed_files(args.files, args.jobs, progress)
    except InputError as exc:
        progress.done()
        return _fail(str(exc))
    progress.done()
    lang = language(args)
    doc = analysis.document(redacted=not args.no_redact, lang=lang)
    if args.format == "json":
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        sys.stdout.write(render_text(doc, args.evidence, lang=lang))
    sys.stdout.flush()
    return EXIT_OK


def _load_config(path: Path | None) -> Config:
    """The file, then the ``CERTWATCH_*`` environment overrides, then the TLS material and the web configuration
    file: every problem at once."""
    from certwatch.app import prepare  # noqa: PLC0415 - see the note on imports

    config = load(path, env_overrides(os.environ))
    prepare(config)  # the listeners' TLS material, http.web_config_file and the probes' trust list
    return config


def _config_failure(exc: ConfigInvalidError) -> int:
    print(f"certwatch: invalid configuration ({exc.source}):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return EXIT_USAGE


def _check_config(args: argparse.Namespace) -> int:
    from certwatch.app import describe  # noqa: PLC0415 - see the note on imports

    try:
        config = _load_config(args.file)
    except ConfigInvalidError as exc:
        return _config_failure(exc)
    sys.stdout.buffer.write(orjson.dumps({"valid": True, **describe(config)}) + b"\n")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    import uvloop  # noqa: PLC0415 - see the note on imports

    from certwatch import logs  # noqa: PLC0415
    from certwatch.app import Daemon  # noqa: PLC0415

    try:
        config = _load_config(args.config)
    except ConfigInvalidError as exc:
        return _config_failure(exc)
    logs.configure(config.logging.level)
    daemon = Daemon(config, args.config, os.environ)
    return uvloop.run(daemon.run())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "run":
            return _run(args)
        if args.command == "check-config":
            return _check_config(args)
        if args.command == "send":
            return send.run(args)
        if args.command == "render-rules":
            return rules.run(args)
        if args.command == "probe":
            return probe_command.run(args, language(args))
    except BrokenPipeError:  # `certwatch analyze ... | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    return _fail(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
