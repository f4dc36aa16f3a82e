"""Reading the header of one syslog message: RFC 3164, RFC 5424 and Expressway diagnostic-snapshot lines.

Accepted shapes (``<PRI>`` is optional except for RFC 5424):

* ``<183>2022-09-14T10:15:02.101+02:00 expc01 traffic_server[3120]: body`` (RFC 3164 with an RFC 3339 stamp)
* ``<28>Sep 14 10:15:02 expc01 traffic_server[3120]: body`` (classic RFC 3164 stamp, no year, no zone)
* ``<28>1 2022-09-14T08:15:02.131Z expc01 traffic_server 3120 - - body`` (RFC 5424, structured data, BOM)
* ``2022-07-11T18:55:25.910+02:00 vcsc traffic_server[18242]: body`` (diagnostic snapshot)
* ``2022-07-11T19:33:06.740+02:00 vcs: traffic_server[3956]: body`` (colon after the host, seen in Cisco material)

Classic stamps carry no year and no zone. The zone is the configured one (default UTC). The year is the one that
puts the stamp no later than two days after the *reference* time: the receive time in the daemon, the file's
modification time for ``analyze`` (a log does not record the future; two days absorb clock and zone skew).
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from certwatch.model import Failure, Header

_MONTHS: Final = {m: i for i, m in enumerate(calendar.month_abbr) if m}
_FUTURE_SLACK: Final = 2 * 86400.0
# A stamp is a time only when its UTC time is a date too (years 1 to 9999): reports format it (0001-01-01T00:00+01:00
# is year 0 in UTC, which made every report of its finding fail).
_FIRST_SECOND: Final = calendar.timegm((1, 1, 1, 0, 0, 0))
_LAST_SECOND: Final = calendar.timegm((9999, 12, 31, 23, 59, 59))

# RFC 3164 / snapshot. The host may end with a colon; the tag is optional (clusterdb lines have none).
# Groups: 1 PRI; RFC 3339 stamp as 2 whole seconds, 3 fraction, 4 zone; classic stamp as 5-9; 10 host; 11 tag.
_BSD: Final = re.compile(
    r"(?:<(\d{1,3})>)?"
    r"(?:(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?([Zz]|[+-]\d\d:?\d\d)?"
    r"|([A-Z][a-z]{2}) ([ \d]?\d) (\d\d):(\d\d):(\d\d)(?:\.\d{1,6})?)"
    r" +(\S+?):? +"
    r"(?:([\w./-]+)(?:\[[^\]\s]*\])?: ?)?",
)
# RFC 5424: <PRI>1 TIMESTAMP HOST APP-NAME PROCID MSGID STRUCTURED-DATA [BOM]MSG
_IETF: Final = re.compile(
    r"<(\d{1,3})>1 (\S+) (\S+) (\S+) \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: |$)(?:\ufeff)?",
)
_STAMP: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?([Zz]|([+-])(\d\d):?(\d\d))?$",
)
# The host alone, of any header shape above (RFC 5424 too), on bytes: the daemon counts the messages it ignores.
HOST: Final = re.compile(
    rb"(?:<\d{1,3}>)?(?:1 \S+|\d{4}-\d\d-\d\d[T ]\S+|[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d+)?) +(\S+?):?(?: |$)"
)
_SPLIT: Final = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?([Zz]|[+-]\d\d:?\d\d)?$")


class StampCache:
    """Parses RFC 3339 stamps; the whole-second part is cached, since thousands of lines share each second."""

    __slots__ = ("_cache", "_zone")

    def __init__(self, zone: tzinfo) -> None:
        self._zone = zone
        self._cache: dict[str, tuple[float, int] | None] = {}

    def parse(self, stamp: str) -> tuple[float, int] | None:
        """Return (epoch seconds, UTC offset in seconds) or ``None`` when the stamp is not a valid time."""
        m = _SPLIT.match(stamp)
        if m is None:
            return None
        return self.parse_parts(m[1], m[2], m[3])

    def parse_parts(self, whole: str, fraction: str | None, zone: str | None) -> tuple[float, int] | None:
        """The same, from a stamp already split into whole seconds, fraction digits and zone."""
        key = whole if zone is None else whole + zone
        base = self._cache.get(key)
        if base is None:
            if key in self._cache:
                return None
            if len(self._cache) >= 4096:
                self._cache.clear()
            base = self._cache[key] = self._parse_whole(key)
            if base is None:
                return None
        if fraction is None:
            return base
        return base[0] + int(fraction) / 10 ** len(fraction), base[1]

    def _parse_whole(self, stamp: str) -> tuple[float, int] | None:
        m = _STAMP.match(stamp)
        if m is None:
            return None
        year, month, day, hour, minute, second = (int(m[i]) for i in range(1, 7))
        try:
            naive = datetime(year, month, day, hour, minute, min(second, 59))  # noqa: DTZ001 - zone applied below
        except ValueError:
            return None
        if m[8] is None:
            offset = self._zone.utcoffset(naive)
            off = int(offset.total_seconds()) if offset is not None else 0
        elif m[8] in "Zz":
            off = 0
        else:
            off = (int(m[10]) * 3600 + int(m[11]) * 60) * (1 if m[9] == "+" else -1)
            if abs(off) >= 86400:
                return None
        epoch = calendar.timegm(naive.timetuple()) - off
        if not _FIRST_SECOND <= epoch <= _LAST_SECOND:
            return None
        return float(epoch), off


class HeaderReader:
    """Reads syslog headers; pure apart from its stamp cache. ``reference`` dates classic stamps."""

    __slots__ = ("_stamps", "_zone", "reference")

    def __init__(self, zone: tzinfo = UTC, reference: float = 0.0) -> None:
        self._zone = zone
        self._stamps = StampCache(zone)
        self.reference = reference

    def read(self, text: str) -> Header | Failure:
        """Read one message (continuation lines included); never raises."""
        if text.startswith("<"):
            gt = text.find(">", 2, 5)
            if gt > 0 and text.startswith("1 ", gt + 1) and (m5 := _IETF.match(text)) is not None:
                return self._ietf(m5, text)
        m = _BSD.match(text)
        if m is None:
            return Failure("not_syslog")
        whole, fraction, zone, host, app = m.group(2, 3, 4, 10, 11)
        if whole is not None:
            parsed = self._stamps.parse_parts(whole, fraction, zone)
        else:
            parsed = self._classic(*m.group(5, 6, 7, 8, 9))
        if parsed is None:
            return Failure("bad_timestamp")
        return Header(parsed[0], parsed[1], host, app or "", text[m.end() :], text)

    def _ietf(self, m: re.Match[str], text: str) -> Header | Failure:
        stamp, host, app = m[2], m[3], m[4]
        if stamp == "-":
            parsed: tuple[float, int] | None = (self.reference, 0)
        else:
            parsed = self._stamps.parse(stamp)
        if parsed is None:
            return Failure("bad_timestamp")
        bracket = app.find("[")
        if bracket > 0:
            app = app[:bracket]
        return Header(parsed[0], parsed[1], host, "" if app == "-" else app, text[m.end() :], text)

    def _classic(self, mon: str, day: str, hh: str, mm: str, ss: str) -> tuple[float, int] | None:
        month = _MONTHS.get(mon)
        if month is None:
            return None
        ref_year = datetime.fromtimestamp(self.reference, UTC).year
        # The next year first: a reference late on 31 December (or a zone ahead of UTC) may date a stamp in January.
        for year in (ref_year + 1, ref_year, ref_year - 1):
            try:
                naive = datetime(year, month, int(day), int(hh), int(mm), min(int(ss), 59))  # noqa: DTZ001
            except ValueError:
                continue  # 29 February of a year that has none: try the year before
            offset = self._zone.utcoffset(naive) or timedelta(0)
            epoch = calendar.timegm(naive.timetuple()) - offset.total_seconds()
            if not _FIRST_SECOND <= epoch <= _LAST_SECOND:
                continue
            if epoch <= self.reference + _FUTURE_SLACK:
                return epoch, int(offset.total_seconds())
        return None
