"""Syslog header reading: RFC 3164 (RFC 3339 and classic stamps), RFC 5424 and diagnostic-snapshot lines."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from certwatch.model import Failure, Header
from certwatch.syslog import HeaderReader, StampCache

BRUSSELS = ZoneInfo("Europe/Brussels")


def at(iso: str) -> float:
    """Epoch seconds of an ISO 8601 time with its offset."""
    return datetime.fromisoformat(iso).timestamp()


@pytest.fixture(name="reader")
def fixture_reader() -> HeaderReader:
    """A UTC reader whose reference (receive time) is shortly after scenario (a) of the domain doc."""
    return HeaderReader(UTC, reference=at("2022-09-14T12:00:00+00:00"))


def test_rfc3164_with_rfc3339_stamp(reader):
    """
    The usual Expressway line: PRI, local RFC 3339 time with milliseconds and offset, host, tag[pid], body.
    """
    text = (
        "<28>2022-09-14T10:15:02.131+02:00 expc01 traffic_server[3120]: [ET_NET 2] WARNING: Core server "
        "certificate verification failed for (cucm-sub1.example.com)."
    )
    body = "[ET_NET 2] WARNING: Core server certificate verification failed for (cucm-sub1.example.com)."

    assert Header(at("2022-09-14T10:15:02.131+02:00"), 7200, "expc01", "traffic_server", body, text) == reader.read(
        text
    )


def test_rfc3339_stamp_in_utc_and_negative_offset(reader):
    """
    `Z` and negative offsets are honoured; the offset is kept in seconds.
    """
    z = reader.read("<28>2022-09-14T08:15:02Z expc01 traffic_server[3120]: x")
    minus = reader.read("2026-01-29T14:01:16.974-05:00 exp-c traffic_server[2030]: x")

    assert (at("2022-09-14T08:15:02+00:00"), 0) == (z.ts, z.offset)
    assert (at("2026-01-29T19:01:16.974+00:00"), -18000) == (minus.ts, minus.offset)


def test_rfc3339_stamp_without_milliseconds_or_with_comma(reader):
    """
    Older lines have no milliseconds; a comma may separate them; a space may replace the `T`.
    """
    plain = reader.read("2014-09-25T13:46:20-04:00 RTP-TBTP-EXPRWY-C edgeconfigprovisioning: x")
    comma = reader.read("<28>2022-09-14 10:15:02,250+02:00 expc01 traffic_server[3120]: x")

    assert at("2014-09-25T17:46:20+00:00") == plain.ts
    assert at("2022-09-14T08:15:02.250+00:00") == comma.ts


def test_classic_stamp_takes_reference_year_and_configured_zone(reader):
    """
    `Mmm dd HH:MM:SS` has no year and no zone: the reference's year and the reader's zone (UTC here) apply.
    """
    text = "<28>Sep 14 10:15:02 expc01 traffic_server[3120]: body"

    assert Header(at("2022-09-14T10:15:02+00:00"), 0, "expc01", "traffic_server", "body", text) == reader.read(text)


def test_classic_stamp_with_space_padded_day(reader):
    """
    Days below 10 are padded with a space (`Sep  4`), as RFC 3164 prescribes.
    """
    header = reader.read("<28>Sep  4 10:15:02 expc01 traffic_server[3120]: body")

    assert at("2022-09-04T10:15:02+00:00") == header.ts


@pytest.mark.parametrize(
    ("reference", "stamp", "expected"),
    [
        # up to two days ahead of the reference stays in the reference's year
        ("2022-09-14T12:00:00+00:00", "Sep 16 12:00:00", "2022-09-16T12:00:00+00:00"),
        # one second more is a stamp of the previous year
        ("2022-09-14T12:00:00+00:00", "Sep 16 12:00:01", "2021-09-16T12:00:01+00:00"),
        ("2022-09-14T12:00:00+00:00", "Dec 31 23:00:00", "2021-12-31T23:00:00+00:00"),
        # New Year: a December stamp read early in January is from the year before
        ("2023-01-01T00:10:00+00:00", "Dec 31 23:59:00", "2022-12-31T23:59:00+00:00"),
        # ... and a January stamp read late on 31 December is from the next year
        ("2022-12-31T23:00:00+00:00", "Jan  1 00:30:00", "2023-01-01T00:30:00+00:00"),
        ("2023-01-02T08:00:00+00:00", "Jan  1 23:59:59", "2023-01-01T23:59:59+00:00"),
        # 29 February: the latest leap year that fits
        ("2024-03-01T00:00:00+00:00", "Feb 29 12:00:00", "2024-02-29T12:00:00+00:00"),
        ("2024-02-28T00:00:00+00:00", "Feb 29 12:00:00", "2024-02-29T12:00:00+00:00"),
        ("2025-03-01T00:00:00+00:00", "Feb 29 12:00:00", "2024-02-29T12:00:00+00:00"),
        ("2025-01-15T00:00:00+00:00", "Feb 29 12:00:00", "2024-02-29T12:00:00+00:00"),
    ],
)
def test_classic_stamp_year_is_latest_not_after_reference_plus_two_days(reference, stamp, expected):
    """
    A classic stamp gets the latest year that puts it no later than two days after the reference.
    """
    reader = HeaderReader(UTC, reference=at(reference))

    assert at(expected) == reader.read(f"<28>{stamp} expc01 traffic_server[3120]: x").ts


@pytest.mark.parametrize(
    ("stamp", "expected", "offset"),
    [
        ("Sep 14 10:15:02", "2022-09-14T10:15:02+02:00", 7200),  # summer time (CEST)
        ("Jan 14 10:15:02", "2022-01-14T10:15:02+01:00", 3600),  # winter time (CET)
        ("Mar 27 03:30:00", "2022-03-27T03:30:00+02:00", 7200),  # just after the spring change
        ("Oct 30 02:30:00", "2022-10-30T02:30:00+02:00", 7200),  # ambiguous: the first (summer) occurrence
        ("Oct 30 03:30:00", "2022-10-30T03:30:00+01:00", 3600),  # just after the autumn change
    ],
)
def test_classic_stamp_in_configured_zone_follows_dst(stamp, expected, offset):
    """
    Classic stamps are local time of the configured zone, with that zone's offset on that date.
    """
    reader = HeaderReader(BRUSSELS, reference=at("2022-11-01T00:00:00+00:00"))

    header = reader.read(f"<28>{stamp} expc01 traffic_server[3120]: x")

    assert (at(expected), offset) == (header.ts, header.offset)


def test_classic_stamp_new_year_in_zone_ahead_of_utc():
    """
    00:15 on 1 January in Brussels is still 31 December in UTC: the stamp belongs to the reference's next year.
    """
    reader = HeaderReader(BRUSSELS, reference=at("2022-12-31T23:30:00+00:00"))

    header = reader.read("<28>Jan  1 00:15:00 expc01 traffic_server[3120]: x")

    assert (at("2023-01-01T00:15:00+01:00"), 3600) == (header.ts, header.offset)


def test_rfc3339_stamp_without_offset_uses_configured_zone():
    """
    An RFC 3339 stamp with no offset is local time of the configured zone; an explicit offset wins.
    """
    reader = HeaderReader(BRUSSELS, reference=at("2022-09-14T12:00:00+00:00"))

    winter = reader.read("<28>2022-01-14T10:15:02.500 expc01 traffic_server[3120]: x")
    explicit = reader.read("<28>2022-01-14T10:15:02-05:00 expc01 traffic_server[3120]: x")

    assert (at("2022-01-14T10:15:02.500+01:00"), 3600) == (winter.ts, winter.offset)
    assert (at("2022-01-14T10:15:02-05:00"), -18000) == (explicit.ts, explicit.offset)


def test_rfc5424_message(reader):
    """
    `<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`: the app name is the tag, the body follows the SD.
    """
    text = "<28>1 2022-09-14T08:15:02.131Z expc01 traffic_server 3120 - - [ET_NET 2] WARNING: x"

    assert Header(
        at("2022-09-14T08:15:02.131+00:00"), 0, "expc01", "traffic_server", "[ET_NET 2] WARNING: x", text
    ) == reader.read(text)


def test_rfc5424_structured_data_with_escaped_bracket_and_bom(reader):
    """
    Structured data (several elements, `\\]` escaped inside a value) is skipped; the UTF-8 BOM before MSG is dropped.
    """
    text = (
        '<183>1 2022-09-14T10:15:02.117+02:00 expc01 traffic_server 3120 ID47 [exampleSDID@32473 iut="3" '
        'note="a\\]b \\"q\\""][origin@48577 ip="10.10.20.11"] \ufeffUTCTime="2022-09-14 08:15:02,117"'
    )

    header = reader.read(text)

    assert ("expc01", "traffic_server", 'UTCTime="2022-09-14 08:15:02,117"') == (header.host, header.app, header.body)


def test_rfc5424_nil_timestamp_uses_reference(reader):
    """
    A NILVALUE (`-`) timestamp means the sender did not know the time: the reference is used, in UTC.
    """
    header = reader.read("<28>1 - expc01 traffic_server 3120 - - body")

    assert (at("2022-09-14T12:00:00+00:00"), 0, "body") == (header.ts, header.offset, header.body)


def test_rfc5424_nil_app_name_is_empty(reader):
    """
    A NILVALUE app name gives an empty tag, and an empty MSG an empty body.
    """
    header = reader.read("<28>1 2022-09-14T08:15:02Z expc01 - - - -")

    assert ("", "") == (header.app, header.body)


def test_snapshot_line_without_pri(reader):
    """
    Diagnostic-snapshot lines have no `<PRI>`; the rest of the header is the same.
    """
    header = reader.read('2022-07-11T18:55:25.910+02:00 vcsc traffic_server[18242]: UTCTime="2022-07-11 16:55:25,910"')

    assert (at("2022-07-11T18:55:25.910+02:00"), "vcsc", "traffic_server", 'UTCTime="2022-07-11 16:55:25,910"') == (
        header.ts,
        header.host,
        header.app,
        header.body,
    )


def test_colon_after_host(reader):
    """
    `vcs: traffic_server[3956]:` (seen in the seed article's analyzer snippet): the colon is not part of the host.
    """
    header = reader.read("2022-07-11T19:33:06.740+02:00 vcs: traffic_server[3956]: body")

    assert ("vcs", "traffic_server", "body") == (header.host, header.app, header.body)


def test_missing_tag(reader):
    """
    Clusterdb lines have no tag: the app is empty and the body starts right after the host.
    """
    header = reader.read('2020-08-12T14:57:43.771-05:00 expc01 UTCTime="2020-08-12 19:57:43,771" Module="x"')

    assert ("expc01", "", 'UTCTime="2020-08-12 19:57:43,771" Module="x"') == (header.host, header.app, header.body)


def test_tag_without_pid_and_without_space_before_body(reader):
    """
    A tag may lack `[pid]`, and the body may follow the colon with no space (Cisco doc 225746).
    """
    bare = reader.read("<28>2022-09-14T10:15:02+02:00 expc01 tvcs: Event=x")
    tight = reader.read("2026-01-29T14:01:16.974-05:00 exp-c traffic_server[2030]:[ET_NET 1]ERROR:SSL connection")

    assert ("tvcs", "Event=x") == (bare.app, bare.body)
    assert ("traffic_server", "[ET_NET 1]ERROR:SSL connection") == (tight.app, tight.body)


@pytest.mark.parametrize(
    "text",
    [
        "<28>2022-09-14T10:15:02+02:00 2001:db8::11 traffic_server[3120]: body",
        "<28>2022-09-14T10:15:02+02:00 2001:db8::11: traffic_server[3120]: body",
        "<28>1 2022-09-14T08:15:02Z 2001:db8::11 traffic_server 3120 - - body",
    ],
)
def test_ipv6_host(reader, text):
    """
    A host given as an IPv6 address keeps its colons (a trailing header colon is still dropped).
    """
    header = reader.read(text)

    assert ("2001:db8::11", "traffic_server", "body") == (header.host, header.app, header.body)


def test_multi_line_message_keeps_continuation_lines(reader):
    """
    Continuation lines (HTTPMSG bodies) stay in the body and in the text, joined by LF.
    """
    text = (
        '<183>2022-09-14T10:15:02.117+02:00 expc01 traffic_server[3120]: Detail="Sending Request" Txn-id="5121" \n'
        "HTTPMSG:\n|GET /CSFjdoe.cnf.xml HTTP/1.1\n Host: cucm-sub1.example.com:6972\n \n |"
    )
    body = (
        'Detail="Sending Request" Txn-id="5121" \n'
        "HTTPMSG:\n|GET /CSFjdoe.cnf.xml HTTP/1.1\n Host: cucm-sub1.example.com:6972\n \n |"
    )

    header = reader.read(text)

    assert (body, text) == (header.body, header.text)


@pytest.mark.parametrize(
    "text",
    [
        "<28>2022-13-11T18:55:25.910+02:00 vcsc traffic_server[18242]: body",  # month 13
        "<28>2022-02-30T10:15:02+02:00 expc01 traffic_server[3120]: body",  # 30 February
        "<28>2022-09-14T25:15:02+02:00 expc01 traffic_server[3120]: body",  # hour 25
        "<28>2022-09-14T10:15:02+25:00 expc01 traffic_server[3120]: body",  # offset of more than a day
        "<28>Foo 14 10:15:02 expc01 traffic_server[3120]: body",  # no such month
        "<28>Feb 30 10:15:02 expc01 traffic_server[3120]: body",  # no such day in any year
        "<28>Sep 14 24:15:02 expc01 traffic_server[3120]: body",
        "<28>1 2022-13-14T08:15:02Z expc01 traffic_server 3120 - - body",
        "<28>1 yesterday expc01 traffic_server 3120 - - body",
    ],
)
def test_bad_timestamp(reader, text):
    """
    A header whose shape is right but whose time does not exist is a `bad_timestamp` failure.
    """
    assert Failure("bad_timestamp") == reader.read(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello world",
        "<28>",
        "traffic_server[3120]: body",
        " |GET /CSFjdoe.cnf.xml HTTP/1.1",
        "<28>1 2022-09-14T08:15:02Z expc01 traffic_server 3120 - [unterminated body",
        "\x00\x01\x02",
    ],
)
def test_garbage_is_not_syslog(reader, text):
    """
    Anything without a syslog header is a `not_syslog` failure, never an exception.
    """
    assert Failure("not_syslog") == reader.read(text)


def test_stamp_cache_keeps_fraction_per_stamp():
    """
    Stamps of one second share a cache entry, yet each keeps its own fraction.
    """
    cache = StampCache(UTC)

    first = cache.parse("2022-09-14T08:15:02.250Z")
    second = cache.parse("2022-09-14T08:15:02.750Z")

    assert [(at("2022-09-14T08:15:02.250+00:00"), 0), (at("2022-09-14T08:15:02.750+00:00"), 0)] == [first, second]


def test_stamp_cache_remembers_invalid_stamps():
    """
    An invalid stamp stays invalid when it is seen again (it is cached as such).
    """
    cache = StampCache(UTC)

    assert [None, None] == [cache.parse("2022-13-14T08:15:02.1Z"), cache.parse("2022-13-14T08:15:02.2Z")]


def test_stamp_cache_leap_second_is_clamped():
    """
    A leap second (`:60`) is read as `:59` rather than rejected.
    """
    assert (at("2016-12-31T23:59:59+00:00"), 0) == StampCache(UTC).parse("2016-12-31T23:59:60Z")
