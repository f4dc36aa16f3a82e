"""hints.language: the incident API and the incident_* log lines in Simplified Chinese, metrics unchanged; a reload
switches the language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from certwatch.app import Daemon
from certwatch.config import load
from certwatch.model import Cause
from certwatch.remediate import remediation, summary
from certwatch.testing import FakeClock, eventually
from conftest import EXAMPLES, address, api, metrics, run, send_tcp, value

SELF_SIGNED = EXAMPLES / "a_self_signed_tomcat_ecdsa.log"
CAUSE = Cause.UNTRUSTED_SELF_SIGNED
ORIGIN = "cucm-sub1.example.com"
CONFIG = "listeners:\n  - {protocol: tcp, address: '127.0.0.1:0'}\nhttp: {address: '127.0.0.1:0'}\n"


def steps(lang: str) -> list[str]:
    return remediation(CAUSE, ORIGIN, 6972, 0, "self signed certificate", lang=lang)  # type: ignore[arg-type]


def test_incidents_speak_the_configured_language(tmp_path: Path) -> None:
    """With hints.language: zh-CN the API's summary and remediation and the incident_opened line are Chinese, the
    same keys and labels as in English; after a reload to en, the API and the next log line are English."""
    path = tmp_path / "certwatch.yaml"
    path.write_text(CONFIG + "hints: {language: zh-CN}\n")
    clock = FakeClock()
    logged: list[tuple[str, dict[str, Any]]] = []

    async def scenario() -> None:
        daemon = Daemon(load(path), path, clock=clock)
        daemon.state.incidents._log = lambda event, **fields: logged.append((event, fields))
        await daemon.start()
        try:
            await send_tcp(address(daemon, "tcp"), SELF_SIGNED.read_bytes())
            [incident] = await eventually(lambda: api(daemon, "?status=active"))
            assert (str(CAUSE), ORIGIN, 6972) == (incident["cause"], incident["origin"], incident["port"])
            assert summary(CAUSE, "zh-CN") == incident["summary"]
            assert steps("zh-CN") == incident["remediation"]
            [(_, fields)] = [entry for entry in logged if entry[0] == "incident_opened"]
            assert summary(CAUSE, "zh-CN") == fields["summary"]
            assert steps("zh-CN") == fields["remediation"]
            assert str(CAUSE) == fields["cause"]
            samples = await metrics(daemon)
            labels = {"cluster": "default", "node": "expc01", "origin": ORIGIN, "port": "6972"}
            assert 1.0 == value(samples, "certwatch_incident_active", cause=str(CAUSE), enforced="true", **labels)

            path.write_text(CONFIG + "hints: {language: en}\n")
            assert await daemon.reload()
            [english] = await api(daemon, "?status=active")
            assert sorted(incident) == sorted(english)
            assert summary(CAUSE) == english["summary"]
            assert steps("en") == english["remediation"]
            clock.advance(15 * 60 + 1)  # resolve_after: the next log line is English
            await eventually(lambda: api(daemon, "?status=resolved"))
            [(_, resolved)] = [entry for entry in logged if entry[0] == "incident_resolved"]
            assert summary(CAUSE) == resolved["summary"]
            assert steps("en") == resolved["remediation"]
        finally:
            await daemon.shutdown()

    run(scenario)
