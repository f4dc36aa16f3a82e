"""UDP drop counters the kernel keeps: per socket (``/proc/net/udp``, ``udp6``: column ``drops``) and for the
whole host (``/proc/net/snmp``: ``Udp: RcvbufErrors``). Read at scrape time; absent files read as nothing."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc/net")


def socket_drops(inode: int, proc: Path = PROC) -> int | None:
    """Drops of the UDP socket with this inode, or None when the kernel does not list it."""
    for name in ("udp", "udp6"):
        try:
            lines = (proc / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13 and fields[9] == str(inode):
                return int(fields[12])
    return None


def host_receive_buffer_errors(proc: Path = PROC) -> int | None:
    """``Udp: RcvbufErrors`` of /proc/net/snmp."""
    try:
        lines = (proc / "snmp").read_text().splitlines()
    except OSError:
        return None
    udp = [line.split()[1:] for line in lines if line.startswith("Udp:")]
    if len(udp) < 2 or "RcvbufErrors" not in udp[0]:
        return None
    return int(udp[1][udp[0].index("RcvbufErrors")])
