"""``http.web_config_file`` on the running daemon: HTTPS on loopback with certificates made by ``openssl`` for the
test, basic auth, mutual TLS, client SANs, headers, the rate limit and SIGHUP reloads, against a real aiohttp
client; and ``certwatch check-config`` on a bad web configuration file."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest
import yaml
from pki import Pair, Pki, make_pki
from prometheus_client.parser import text_string_to_metric_families

from certwatch import cli
from certwatch.app import Daemon
from certwatch.config import load
from certwatch.telemetry import HTTP_REFUSALS
from certwatch.testing import running_daemon
from conftest import loopback, run

USER = "prometheus"
PASSWORD = "scrape-secret"
HEADERS = {"Strict-Transport-Security": "max-age=31536000", "X-Content-Type-Options": "nosniff"}


@pytest.fixture(name="pki", scope="module")
def fixture_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def hashed(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def write_web_config(path: Path, pki: Pki | None, users: Mapping[str, str] | None = None, **tls: Any) -> Path:
    """A web configuration file: TLS with the test server certificate (unless ``pki`` is None), ``tls`` keys
    added, bcrypt hashes of ``users``' passwords, the test headers."""
    data: dict[str, Any] = {"http_server_config": {"headers": HEADERS}}
    if pki is not None:
        data["tls_server_config"] = {"cert_file": str(pki.server.cert), "key_file": str(pki.server.key), **tls}
    if users:
        data["basic_auth_users"] = {name: hashed(password) for name, password in users.items()}
    path.write_text(yaml.safe_dump(data))
    return path


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Client:
    """HTTPS to the daemon, verifying its certificate with the test CA; optionally presenting a client pair."""

    def __init__(self, daemon: Any, pki: Pki | None, pair: Pair | None = None) -> None:
        self.daemon = daemon
        self.context: ssl.SSLContext | bool = False
        if pki is not None:
            context = ssl.create_default_context(cafile=str(pki.ca))
            if pair is not None:
                context.load_cert_chain(str(pair.cert), str(pair.key))
            self.context = context
        self.scheme = "https" if pki is not None else "http"

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, Mapping[str, str], str]:
        url = f"{self.scheme}://{self.daemon.state.http_address}{path}"
        async with aiohttp.ClientSession() as session, session.get(url, ssl=self.context, headers=headers) as r:
            return r.status, r.headers, await r.text()

    async def refused(self) -> dict[str, float]:
        """``certwatch_http_requests_refused_total`` by reason, from an authenticated scrape."""
        status, _, body = await self.get("/metrics", basic(USER, PASSWORD))
        assert 200 == status, body
        return {
            sample.labels["reason"]: sample.value
            for family in text_string_to_metric_families(body)
            for sample in family.samples
            if sample.name == "certwatch_http_requests_refused_total"
        }


def refusals(**counts: float) -> dict[str, float]:
    return {reason: counts.get(reason, 0.0) for reason in HTTP_REFUSALS}


def test_metrics_answer_401_without_credentials_and_200_with_them_over_tls(pki: Pki, tmp_path: Path) -> None:
    """Over HTTPS: no credentials, a wrong password, an unknown user and a non-basic scheme get 401 with
    ``WWW-Authenticate: Basic``, each counted by reason; the right ones get the metrics. Every path is protected,
    unknown ones too; ``/healthz`` and ``/readyz`` stay open to probes. Plain HTTP on the port gets nothing."""
    web = write_web_config(tmp_path / "web.yml", pki, {USER: PASSWORD})

    async def scenario() -> None:
        async with running_daemon(loopback(http={"address": "127.0.0.1:0", "web_config_file": str(web)})) as daemon:
            client = Client(daemon, pki)
            answers = [
                await client.get("/metrics"),
                await client.get("/metrics", basic(USER, "wrong")),
                await client.get("/metrics", basic("mallory", PASSWORD)),
                await client.get("/api/v1/incidents", {"Authorization": "Bearer token"}),
                await client.get("/no/such/path"),
            ]
            assert [401] * 5 == [status for status, _, _ in answers]
            assert {"Basic"} == {headers["WWW-Authenticate"] for _, headers, _ in answers}
            status, _, body = await client.get("/metrics", basic(USER, PASSWORD))
            assert (200, True) == (status, "certwatch_build_info" in body)
            assert 200 == (await client.get("/api/v1/incidents", basic(USER, PASSWORD)))[0]
            assert [200, 200] == [(await client.get(path))[0] for path in ("/healthz", "/readyz")]
            assert refusals(missing=2, wrong_password=1, unknown_user=1, malformed=1) == await client.refused()
            with pytest.raises(aiohttp.ClientError):
                await Client(daemon, None).get("/healthz")

    run(scenario)


def test_a_flood_of_wrong_passwords_costs_one_bcrypt_check(pki: Pki, tmp_path: Path) -> None:
    """Fifty requests with the same wrong password, many at once: all 401 and counted, one bcrypt computation;
    the right password then costs one more, and its repeats none."""
    web = write_web_config(tmp_path / "web.yml", pki, {USER: PASSWORD})

    async def scenario() -> None:
        async with running_daemon(loopback(http={"address": "127.0.0.1:0", "web_config_file": str(web)})) as daemon:
            client = Client(daemon, pki)
            answers = await asyncio.gather(*(client.get("/metrics", basic(USER, "guess")) for _ in range(50)))
            credentials = daemon.guard.credentials
            assert ([401] * 50, 1) == ([status for status, _, _ in answers], credentials.bcrypt_checks)
            for _ in range(5):
                assert 200 == (await client.get("/metrics", basic(USER, PASSWORD)))[0]
            assert refusals(wrong_password=50) == await client.refused()
            assert 2 == credentials.bcrypt_checks

    run(scenario)


@pytest.mark.parametrize(("client", "accepted"), [(None, False), ("stranger", False), ("client", True)])
def test_mutual_tls_refuses_a_client_without_a_certificate_of_the_ca(
    pki: Pki, tmp_path: Path, client: str | None, accepted: bool
) -> None:
    """``RequireAndVerifyClientCert`` with ``client_ca_file``: no certificate, or one of another CA, and the
    handshake fails (probes included); a certificate of the CA gets through to basic auth."""
    web = write_web_config(
        tmp_path / "web.yml",
        pki,
        {USER: PASSWORD},
        client_auth_type="RequireAndVerifyClientCert",
        client_ca_file=str(pki.ca),
    )
    pair = {"client": pki.client, "stranger": pki.stranger}.get(client or "")

    async def scenario() -> None:
        async with running_daemon(loopback(http={"address": "127.0.0.1:0", "web_config_file": str(web)})) as daemon:
            https = Client(daemon, pki, pair)
            if accepted:
                assert [401, 200] == [(await https.get("/metrics", auth))[0] for auth in ({}, basic(USER, PASSWORD))]
            else:
                for path in ("/metrics", "/healthz"):
                    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
                        await https.get(path, basic(USER, PASSWORD))

    run(scenario)


@pytest.mark.parametrize(("allowed", "status"), [("expc01.example.com", 200), ("prometheus.example.com", 403)])
def test_client_allowed_sans(pki: Pki, tmp_path: Path, allowed: str, status: int) -> None:
    """A verified client certificate must also carry one of ``client_allowed_sans``; otherwise 403, counted."""
    web = write_web_config(
        tmp_path / "web.yml",
        pki,
        client_auth_type="RequireAndVerifyClientCert",
        client_ca_file=str(pki.ca),
        client_allowed_sans=[allowed],
    )

    async def scenario() -> None:
        async with running_daemon(loopback(http={"address": "127.0.0.1:0", "web_config_file": str(web)})) as daemon:
            assert status == (await Client(daemon, pki, pki.client).get("/metrics"))[0]
            assert float(status == 403) == daemon.state.telemetry.http_refused["client_san"]

    run(scenario)


def test_headers_and_rate_limit_apply_without_tls(tmp_path: Path) -> None:
    """Basic auth and headers also work on plain HTTP (no tls_server_config). The configured headers are on every
    answer, refusals and probes included; past the rate limit's burst, 429 (probes exempt)."""
    web = write_web_config(tmp_path / "web.yml", None, {USER: PASSWORD})
    data = yaml.safe_load(web.read_text())
    data["rate_limit"] = {"interval": "1h", "burst": 3}
    web.write_text(yaml.safe_dump(data))

    async def scenario() -> None:
        async with running_daemon(loopback(http={"address": "127.0.0.1:0", "web_config_file": str(web)})) as daemon:
            client = Client(daemon, None)
            answers = [await client.get("/metrics", basic(USER, PASSWORD)) for _ in range(2)]
            answers += [await client.get("/metrics"), await client.get("/metrics", basic(USER, PASSWORD))]
            answers += [await client.get("/healthz")]
            assert [200, 200, 401, 429, 200] == [status for status, _, _ in answers]
            for _, headers, _ in answers:
                assert HEADERS == {name: headers.get(name) for name in HEADERS}
            assert 1 == daemon.state.telemetry.http_refused["rate_limited"]

    run(scenario)


def test_reload_swaps_passwords_in_place_and_restarts_tls_on_the_same_port(pki: Pki, tmp_path: Path) -> None:
    """SIGHUP re-reads the web configuration: a new password applies at once (same port, no restart); an invalid
    file is refused like an invalid main file (old settings kept, reload failure counted); new TLS settings
    restart the HTTP listener on the port it had."""
    web = write_web_config(tmp_path / "web.yml", pki, {USER: "first"})
    main = tmp_path / "certwatch.yaml"
    main.write_text(
        yaml.safe_dump(
            {
                "listeners": [{"protocol": "udp", "address": "127.0.0.1:0"}],
                "http": {"address": "127.0.0.1:0", "web_config_file": str(web)},
            }
        )
    )

    async def scenario() -> None:
        daemon = Daemon(load(main), main)
        await daemon.start()
        try:
            client = Client(daemon, pki)
            port = daemon.state.http_address
            assert 200 == (await client.get("/metrics", basic(USER, "first")))[0]

            write_web_config(web, pki, {USER: PASSWORD})
            assert await daemon.reload()
            assert [401, 200] == [(await client.get("/metrics", basic(USER, p)))[0] for p in ("first", PASSWORD)]
            assert port == daemon.state.http_address

            web.write_text(web.read_text().replace("$2b$", "$9z$"))
            assert not await daemon.reload()
            status, _, body = await client.get("/metrics", basic(USER, PASSWORD))
            assert (200, True) == (status, "certwatch_config_last_reload_success 0.0" in body)

            write_web_config(
                web, pki, {USER: PASSWORD}, client_auth_type="RequireAndVerifyClientCert", client_ca_file=str(pki.ca)
            )
            assert await daemon.reload()
            assert port == daemon.state.http_address
            with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
                await client.get("/metrics", basic(USER, PASSWORD))
            assert 200 == (await Client(daemon, pki, pki.client).get("/metrics", basic(USER, PASSWORD)))[0]
        finally:
            await daemon.shutdown()

    run(scenario)


def test_check_config_reports_the_web_config_problems_with_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``certwatch check-config`` validates the web configuration file too, once the main file is valid: every
    problem, each with its path in that file, and exit status 2; a valid pair is reported valid."""
    web = tmp_path / "web.yml"
    web.write_text(
        "tls_server_config: {cert_file: absent.crt, key_file: absent.key, min_version: TLS99}\n"
        "basic_auth_users: {alice: secret}\n"
    )
    main = tmp_path / "certwatch.yaml"
    main.write_text(f"http: {{address: '127.0.0.1:0', web_config_file: {web}}}\nlogging: {{level: loud}}\n")
    assert 2 == cli.main(["check-config", str(main)])
    err = capsys.readouterr().err
    assert "logging.level" in err
    main.write_text(f"http: {{address: '127.0.0.1:0', web_config_file: {web}}}\n")
    assert 2 == cli.main(["check-config", str(main)])
    lines = [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]
    assert [
        f"http.web_config_file {web}: basic_auth_users.alice",
        f"http.web_config_file {web}: tls_server_config.cert_file",
        f"http.web_config_file {web}: tls_server_config.key_file",
        f"http.web_config_file {web}: tls_server_config.min_version",
    ] == sorted(": ".join(line.split(": ")[:2]) for line in lines)
    web.write_text(f"basic_auth_users: {{alice: '{hashed('x')}'}}\n")
    assert 0 == cli.main(["check-config", str(main)])
    assert f'"http_web_config_file":"{web}"' in capsys.readouterr().out
