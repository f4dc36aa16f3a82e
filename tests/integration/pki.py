"""The Debian tools the real-peer tests need (installed by ``.ci/debs.sh`` when missing, as ``make test`` does), and
the throw-away certificates of :mod:`certwatch.testing` once ``openssl`` is there."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from certwatch import testing
from certwatch.testing import Pair, Pki

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["Pair", "Pki", "ensure_debs", "make_pki"]


def ensure_debs(packages: tuple[str, ...], present: Callable[[], bool]) -> None:
    """Install the Debian ``packages`` with ``.ci/debs.sh`` (as ``make test`` does) unless ``present()`` already
    holds; afterwards it must."""
    if not present():
        subprocess.run([str(ROOT / ".ci" / "debs.sh"), *packages], check=True, timeout=600)
    assert present(), f"still missing after installing {' '.join(packages)}"


def make_pki(directory: Path) -> Pki:
    """Every key and certificate the TLS tests use, in ``directory``."""
    ensure_debs(("openssl",), lambda: shutil.which("openssl") is not None)
    return testing.make_pki(directory)
