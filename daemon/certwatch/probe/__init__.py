"""Active origin probe: connect to a CUCM / IM&P / Unity Connection origin the way Expressway-C's Traffic Server
does, and explain what it would conclude (``certwatch probe``).

Modules, pure core first: :mod:`~certwatch.probe.model` (the values and the JSON contract),
:mod:`~certwatch.probe.facts` (certificate facts and the name check, ``cryptography``),
:mod:`~certwatch.probe.classify` (handshake -> cause, depth, X14.2 trap, hint), :mod:`~certwatch.probe.report`
(text and JSON); then the shell: :mod:`~certwatch.probe.handshake` (one pyOpenSSL handshake),
:mod:`~certwatch.probe.run` (resolution, connections, timeouts, threads) and :mod:`~certwatch.probe.command`
(the command line).

API for other callers (the daemon), all blocking::

    from certwatch.probe.model import ProbeSettings, Target
    from certwatch.probe.run import load, probe, probe_many

    material = load(settings)                       # ProbeSettingsError for an unusable CA file or client pair
    result = probe(Target("cucm.example.com", 8443), settings, material)    # ProbeResult; never raises
    result.ok, result.cause, result.to_json()

This package module itself imports only the light :mod:`~certwatch.probe.model` (OpenSSL and cryptography load
when :mod:`~certwatch.probe.run` is imported), so ``certwatch``'s other commands start as fast as before.
"""

from __future__ import annotations

from certwatch.probe.model import (
    CONNECT_ERRORS,
    OFFERS,
    CertFacts,
    OfferResult,
    ProbeResult,
    ProbeSettings,
    ProbeSettingsError,
    Target,
)

__all__ = [
    "CONNECT_ERRORS",
    "OFFERS",
    "CertFacts",
    "OfferResult",
    "ProbeResult",
    "ProbeSettings",
    "ProbeSettingsError",
    "Target",
]
