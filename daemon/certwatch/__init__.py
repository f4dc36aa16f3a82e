"""certwatch: detects and explains Cisco Expressway MRA origin certificate-verification failures from syslog."""

from certwatch._version import __version__

__all__ = ["__version__"]
