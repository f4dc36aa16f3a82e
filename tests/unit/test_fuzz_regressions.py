"""What the atheris harnesses (tests/fuzz, ``make fuzz``) found: each input, reduced, and the outcome it must have.

Every bad input must end as a counted outcome (a ``Failure``, a counter, a ``ConfigInvalidError``), never another
exception, and no single message may stall the daemon's event loop.
"""

from __future__ import annotations

import calendar
import time
from datetime import timedelta, timezone
from pathlib import Path

import orjson
import pytest

from certwatch import config as configuration
from certwatch import persist
from certwatch.correlate import Correlator
from certwatch.engine import Engine
from certwatch.export import webconfig
from certwatch.incidents import Incidents
from certwatch.model import CertFailure, ErrorResponse, Event, Failure, Header, HttpKind, HttpLine
from certwatch.parse import read_event
from certwatch.reader import LineReader, Scanner
from certwatch.report import findings_doc
from certwatch.syslog import HeaderReader
from certwatch.telemetry import Telemetry

ROOT = Path(__file__).resolve().parents[2]

ERROR_RESPONSE = 'Event="Sending HTTP error response" Status="{}" Reason="Bad Gateway" Dst-ip="127.0.0.1" Dst-port="1"'
VERIFY = (
    "[ET_NET 2] WARNING: Core server certificate verification failed for (cucm-sub1.example.com). "
    "Action=Terminate Error={error} server=cucm-sub1.example.com(10.10.10.12){depth}"
)


def test_error_response_status_that_int_refuses_is_a_failure() -> None:
    """traffic_server target: ``Status="40²4"`` passed ``str.isdigit()`` ("²" is a digit to it), then ``int()``
    raised ValueError out of the parser; so did a status over 4,300 digits (int's limit)."""
    for status in ("40\u00b24", "\u00b2", "5" * 5000):
        assert Failure("truncated_error_response") == read_event(ERROR_RESPONSE.format(status))
    assert ErrorResponse(502, "127.0.0.1", 1) == read_event(ERROR_RESPONSE.format("502"))


def timed_read(body: str) -> Event | Failure | None:
    """``read_event(body)``, which must not take long: one message must not stall the daemon's event loop."""
    start = time.perf_counter()
    event = read_event(body)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"{len(body)} bytes read in {elapsed:.2f} s"
    return event


def test_long_word_outside_key_value_pairs_is_read_in_linear_time() -> None:
    """traffic_server target (a hang, over 10 s): a long run of word characters not followed by ``="`` made the
    Key="value" pattern try every position of the run, each to its end (quadratic: 22 s for 60 KB)."""
    run = "w" * 32768
    assert ErrorResponse(502, "127.0.0.1", 1) == timed_read(run + 'ed" d" ' + ERROR_RESPONSE.format("502"))
    assert ErrorResponse(502, None, None) == timed_read('Event="Sending HTTP error response" Status="502" ' + run)
    line = timed_read(f'Detail="Sending Request" {run} Txn-id="7" Dst-ip="10.0.0.1" Dst-port="443" HTTPMSG: |x')
    assert HttpLine(HttpKind.SENDING_REQUEST, "7", "10.0.0.1", 443, None, None, None, None) == line
    # the key is still read after digits, "_" or "-" that run into it, as before
    assert ErrorResponse(502, None, None) == timed_read('Event="Sending HTTP error response" 9_-Status="502"')


def test_verify_warning_with_long_whitespace_is_read_in_linear_time() -> None:
    """traffic_server target (stretch mode, a slow input): a long run of white space between ``Error=`` and
    ``server=`` made the lazy error text retry ``\\s+server=`` at every space of the run (quadratic)."""
    event = timed_read(VERIFY.format(error=" " * 32768 + "self signed certificate", depth=" depth=0"))
    assert isinstance(event, CertFailure)
    assert ("self signed certificate", 0, "cucm-sub1.example.com") == (event.error, event.depth, event.host)
    event = timed_read(VERIFY.format(error="self signed" + "\t " * 16384 + "certificate", depth=""))
    assert isinstance(event, CertFailure)
    assert event.error is not None
    assert event.error.startswith("self signed")
    assert event.error.endswith("certificate")


def test_verify_depth_over_the_int_limit_is_unknown() -> None:
    """traffic_server target: ``depth=`` followed by more than 4,300 digits made ``int()`` raise ValueError."""
    event = read_event(VERIFY.format(error="self signed certificate", depth=" depth=" + "1" * 5000))
    assert isinstance(event, CertFailure)
    assert event.depth is None
    event = read_event(VERIFY.format(error="self signed certificate", depth=" depth=1"))
    assert isinstance(event, CertFailure)
    assert event.depth == 1


class _Log:
    def __init__(self) -> None:
        self.events: list[str] = []

    def _event(self, event: str, **_fields: object) -> None:
        self.events.append(event)

    info = warning = error = debug = _event


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_offset", -180018000),  # what the fuzzer wrote: -2084 days
        ("last_offset", 86400),
        ("first_seen", 1e300),
        ("last_seen", -1e300),
        ("changed_at", 1e20),
    ],
)
def test_state_file_with_times_no_clock_has_is_moved_aside(tmp_path: Path, field: str, value: float) -> None:
    """state target: a state file whose finding had a UTC offset of -2,084 days (or a time far outside any
    calendar) validated, was restored, and then every incident API request raised ValueError (OverflowError for
    the times) while formatting it. Such a file is unusable: moved aside and counted, like any invalid one."""
    engine = Engine()
    engine.feed((ROOT / "examples" / "a_self_signed_tomcat_ecdsa.log").read_bytes().splitlines())
    correlator = engine.correlator
    correlator.flush(engine.latest)
    document = persist.snapshot(correlator, 1_663_200_000.0)
    assert document["findings"]
    good = tmp_path / "good" / "state.json"
    persist.write_atomic(good, orjson.dumps(document))
    document["findings"][0][field] = value
    bad = tmp_path / "bad" / "state.json"
    persist.write_atomic(bad, orjson.dumps(document))

    telemetry, log = Telemetry(), _Log()
    restored = Correlator()
    assert persist.StateStore(good, 60.0, telemetry, log).restore(restored, 1_663_200_060.0) == len(
        document["findings"]
    )
    restored = Correlator()
    assert persist.StateStore(bad, 60.0, telemetry, log).restore(restored, 1_663_200_060.0) == 0
    assert (telemetry.state_load_failures, bad.exists()) == (1, False)
    assert log.events == ["state_restored", "state_unusable"]
    incidents = Incidents(telemetry, 3600.0)
    incidents.correlator = restored
    assert incidents.documents() == []


def test_stamps_whose_utc_time_is_no_date_are_bad_timestamps() -> None:
    """Found while writing the state target's test: ``0001-01-01T00:00+01:00`` is a date where it was written but
    year 0 in UTC (and ``9999-12-31T23:59-01:00`` year 10000); such a message made a finding whose time no report
    could format: ``certwatch analyze`` and the incident API raised ValueError. The header reader refuses the stamp
    (counted as ``bad_timestamp``), on the layered and the fast path alike."""
    reader = HeaderReader(reference=1_663_200_000.0)
    for stamp in ("0001-01-01T00:00:00.000+01:00", "9999-12-31T23:59:59.999-01:00", "0001-01-01 00:59:59,9+0100"):
        assert Failure("bad_timestamp") == reader.read(f"<28>{stamp} expc01 traffic_server[1]: x")
    assert isinstance(reader.read("<28>0001-01-01T00:00:00.000-01:00 expc01 traffic_server[1]: x"), Header)
    assert isinstance(reader.read("<28>9999-12-31T23:59:59.999+01:00 expc01 traffic_server[1]: x"), Header)
    # a classic stamp takes the year before when the year of the reference would end in year 10000 in UTC
    classic = HeaderReader(timezone(-timedelta(hours=1)), 253_402_300_000.0).read("<28>Dec 31 23:30:00 h app: x")
    assert isinstance(classic, Header)
    assert classic.ts == calendar.timegm((9998, 12, 31, 23, 30, 0)) + 3600
    for fast in (True, False):
        engine = Engine(zone=timezone(-timedelta(hours=1)), fast=fast)
        engine.feed(
            [f"<28>{stamp} expc01 traffic_server[1]: {VERIFY.format(error='x', depth='')}".encode()
             for stamp in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:30:00")]
        )  # fmt: skip
        engine.correlator.flush(engine.latest)
        assert engine.stats.failures["bad_timestamp"] == 3
        assert findings_doc(engine.correlator.findings()) == []


def test_state_file_keeps_any_time_a_message_can_carry() -> None:
    """The state file's check is on the dates the reports show, not a range of its own: messages stamped at the
    first and the last minute a report can show give a finding that is saved and restored."""
    engine = Engine()
    for stamp in ("0001-01-01T00:00:00.000-01:00", "9999-12-31T23:59:59.999+01:00"):
        engine.feed([f"<28>{stamp} expc01 traffic_server[1]: {VERIFY.format(error='x', depth='')}".encode()])
    engine.correlator.flush(engine.latest)
    document = persist.snapshot(engine.correlator, 1_663_200_000.0)
    assert len(document["findings"]) == 1
    assert {document["findings"][0]["first_offset"], document["findings"][0]["last_offset"]} == {-3600, 3600}
    assert len(persist.parse(orjson.dumps(document)).findings) == 1
    assert len(findings_doc(engine.correlator.findings())) == 1


def test_scanner_strips_the_cr_of_a_line_before_an_overlong_last_line() -> None:
    """lf_reader target: when a chunk ended inside a line already over the limit, the scanner took that cut for
    the first line of the chunk itself, so that line kept its "\\r" (``traffic_server\\r``), and the next chunk's
    first line, the cut head, lost its: fed whole, or split after the CR LF, the messages differed."""
    data = b'traffic_server\r\nf-93be-53d7e6f7a8b-7feb-4b99" Sec2d'
    plain = LineReader(33)
    expected = [m for m in plain.feed(data) + plain.finish() if b"traffic_server" in m]
    assert expected == [b"traffic_server"]
    for cut in range(len(data) + 1):
        scanner = Scanner(limit=33)
        assert expected == scanner.feed(data[:cut]) + scanner.feed(data[cut:]) + scanner.finish()
    # the cut head is the first line of the next chunk: a CR at the cut is part of it, as the line reader keeps it
    data = b"<1>x traffic_server " + b"y" * 20 + b"\r" + b"z" * 20 + b"\nnext\n"
    plain = LineReader(33)
    expected = [m for m in plain.feed(data) + plain.finish() if b"traffic_server" in m]
    for cut in range(len(data) + 1):
        scanner = Scanner(limit=33)
        assert expected == scanner.feed(data[:cut]) + scanner.feed(data[cut:]) + scanner.finish()


# PyYAML lets ValueError, OverflowError and RecursionError out of safe_load for well-formed YAML with impossible
# values: a configuration or web configuration file holding one crashed check-config (exit 1, a traceback).
BAD_YAML = {
    "0x_": "invalid YAML value: invalid literal for int() with base 16",  # the web_config target, 8 s in
    "a: 0x_": "invalid YAML value: invalid literal for int() with base 16",
    "http:\n  address: 2022-13-45": "invalid YAML value: month must be in 1..12",
    "a: " + "[" * 5000 + "]" * 5000: "invalid YAML: nested too deeply",
}


@pytest.mark.parametrize("text", list(BAD_YAML))
def test_yaml_with_impossible_values_is_an_invalid_config_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "certwatch.yaml"
    path.write_text(text)
    with pytest.raises(configuration.ConfigInvalidError) as caught:
        configuration.load(path)
    assert [BAD_YAML[text]] == [p[: len(BAD_YAML[text])] for p in caught.value.problems]


@pytest.mark.parametrize("text", list(BAD_YAML))
def test_yaml_with_impossible_values_is_an_invalid_web_config_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "web-config.yml"
    path.write_text(text)
    with pytest.raises(webconfig.WebConfigError) as caught:
        webconfig.load(path)
    assert [BAD_YAML[text]] == [p[: len(BAD_YAML[text])] for p in caught.value.problems]


def test_an_environment_override_with_an_impossible_value_is_taken_as_text() -> None:
    assert {"http.address": "0x_"} == configuration.env_overrides({"CERTWATCH_HTTP__ADDRESS": "0x_"})
