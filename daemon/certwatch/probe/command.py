"""``certwatch probe``: the command line around :func:`certwatch.probe.run.probe_many`.

This module imports only argparse-level things at the top; OpenSSL and cryptography are loaded by :func:`run`.
Exit status as ``analyze``: 0 when the probes ran, whatever they found; 2 on a usage or configuration error.
``--lang`` is added by :mod:`certwatch.cli` (as for ``analyze``), which passes the language it chose to :func:`run`.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path
from typing import Final

from certwatch.hints import DEFAULT_LANGUAGE, Language
from certwatch.probe.model import DEFAULT_TIMEOUT, ProbeSettings, ProbeSettingsError, Target

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2


class UsageError(ValueError):
    """A malformed ``NAME:PORT`` or ``--resolve`` value."""


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"{what}: port {text!r} is not 1..65535")
    return int(text)


def parse_target(text: str) -> tuple[str, int]:
    """``NAME:PORT``, ``IP:PORT`` or ``[IPv6]:PORT``."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]:")
        if not sep or not host:
            raise UsageError(f"{text!r}: write an IPv6 origin as [ADDRESS]:PORT")
        return host, _port(rest, text)
    host, sep, rest = text.rpartition(":")
    if not sep or not host or ":" in host:
        raise UsageError(f"{text!r}: expected NAME:PORT")
    return host, _port(rest, text)


def parse_resolve(text: str) -> tuple[str, int, str]:
    """curl's ``--resolve NAME:PORT:ADDRESS`` (``ADDRESS`` an IPv4 or IPv6 address, brackets optional)."""
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise UsageError(f"--resolve {text!r}: expected NAME:PORT:ADDRESS")
    name, port, address = parts
    address = address.strip("[]")
    try:
        ipaddress.ip_address(address)
    except ValueError as exc:
        raise UsageError(f"--resolve {text!r}: {address!r} is not an IP address") from exc
    return name, _port(port, f"--resolve {text!r}"), address


def targets(specs: list[str], resolves: list[str]) -> list[Target]:
    pinned = {(name.lower(), port): address for name, port, address in map(parse_resolve, resolves)}
    out = []
    for spec in specs:
        name, port = parse_target(spec)
        out.append(Target(name, port, pinned.get((name.lower(), port))))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "targets", nargs="+", metavar="NAME:PORT", help="origin as Expressway-C reaches it (FQDN or IP, and port)"
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        metavar="FILE",
        help="the Expressway-C trusted CA list, PEM (Maintenance > Security > Trusted CA certificate > "
        "Show all (PEM file)); without it no CA is trusted",
    )
    parser.add_argument("--client-cert", type=Path, metavar="FILE", help="client certificate (PEM, chain may follow)")
    parser.add_argument("--client-key", type=Path, metavar="FILE", help="its private key (PEM, unencrypted)")
    parser.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="NAME:PORT:ADDRESS",
        help="as curl: connect to ADDRESS for NAME:PORT, still sending SNI and checking the certificate for NAME",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds per connection, TCP connect and TLS handshake (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")


def _fail(message: str) -> int:
    print(f"certwatch: error: {message}", file=sys.stderr)  # noqa: T201 - the CLI's one-line error
    return EXIT_USAGE


def run(args: argparse.Namespace, lang: Language = DEFAULT_LANGUAGE) -> int:
    """Probe the origins of ``args``; ``lang`` is the language of the summaries, steps and text report."""
    from certwatch.probe import report  # noqa: PLC0415 - OpenSSL and cryptography load only for this command
    from certwatch.probe.run import probe_many  # noqa: PLC0415

    try:
        wanted = targets(args.targets, args.resolve)
    except UsageError as exc:
        return _fail(str(exc))
    settings = ProbeSettings(args.ca_file, args.client_cert, args.client_key, args.timeout)
    try:
        results = probe_many(wanted, settings, lang=lang)
    except ProbeSettingsError as exc:
        return _fail(str(exc))
    if args.format == "json":
        sys.stdout.buffer.write(report.render_json(results))
    else:
        sys.stdout.write(report.render_text(results, lang=lang))
    sys.stdout.flush()
    return EXIT_OK
