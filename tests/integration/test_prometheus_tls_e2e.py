"""The HTTP side locked the Prometheus way, end to end: ``certwatch run`` as a process with ``http.web_config_file``
(TLS and basic auth), and Debian's Prometheus scraping it over HTTPS with basic auth, itself started with
``--web.config.file`` on the very same file (``promtool check web-config`` accepts it too). A second job without
credentials shows what a scrape without them gets: ``up == 0``, a 401, and certwatch counting it.

Certificates are made for the test by ``openssl``; everything listens on loopback ports; both processes are
stopped by the test.
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from pki import Pki, make_pki
from process import daemon_process

from certwatch.export.webtls import load_security

USER = "prometheus"
PASSWORD = "correct horse battery staple"
JOB = "certwatch"
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "web-config.yml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if result := check():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def web_directory(tmp: Path, pki: Pki) -> Path:
    """What a NOC puts in /etc/certwatch-web (or a Kubernetes Secret): the web configuration file, naming its
    certificate and key relative to itself, and the CA that signed them."""
    directory = tmp / "web"
    directory.mkdir()
    shutil.copy(pki.server.cert, directory / "tls.crt")
    shutil.copy(pki.server.key, directory / "tls.key")
    shutil.copy(pki.ca, directory / "ca.crt")
    config = {
        "tls_server_config": {"cert_file": "tls.crt", "key_file": "tls.key", "min_version": "TLS12"},
        "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "deny"}},
        "basic_auth_users": {USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()},
    }
    (directory / "web-config.yml").write_text(yaml.safe_dump(config))
    return directory


class Https:
    """GET over HTTPS to a loopback server whose certificate the test CA signed; basic auth optional."""

    def __init__(self, address: str, ca: Path) -> None:
        self.address = address
        self.context = ssl.create_default_context(cafile=str(ca))

    def get(self, path: str, auth: bool = True) -> tuple[int, str]:
        request = urllib.request.Request(f"https://{self.address}{path}")
        if auth:
            token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=5, context=self.context) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def api(self, path: str, params: dict[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body = self.get(f"{path}{query}")
        assert 200 == status, body
        return json.loads(body)["data"]

    def scalar(self, expr: str) -> float | None:
        result = self.api("/api/v1/query", {"query": expr})["result"]
        return float(result[0]["value"][1]) if len(result) == 1 else None


@contextmanager
def prometheus(tmp: Path, web: Path, target: str) -> Iterator[Https]:
    """Debian's prometheus on a free loopback port behind ``web``/web-config.yml, scraping ``target`` every second
    in job "certwatch" (HTTPS, basic auth) and in job "anonymous" (HTTPS, no credentials)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: this test needs Debian's prometheus package (`make debs-test`)")
    tls = {"ca_file": str(web / "ca.crt")}
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": JOB,
                "scheme": "https",
                "tls_config": tls,
                "basic_auth": {"username": USER, "password": PASSWORD},
                "static_configs": [{"targets": [target]}],
            },
            {"job_name": "anonymous", "scheme": "https", "tls_config": tls, "static_configs": [{"targets": [target]}]},
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--web.config.file={web / 'web-config.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address={address}",
                f"--web.console.templates={tmp}",
                f"--web.console.libraries={tmp}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    client = Https(address, web / "ca.crt")
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
            try:
                return 200 == client.get("/-/ready")[0]
            except OSError:
                return False

        wait_until(ready, "prometheus to be ready")
        yield client
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("example", [False, True], ids=["test-file", "deploy-web-config"])
def test_promtool_and_certwatch_accept_the_same_web_config_file(tmp_path: Path, example: bool) -> None:
    """Prometheus's own checker and certwatch (TLS material loaded) take the same file, relative certificate paths
    included: the test's file, and deploy/web-config.yml next to a real certificate and key."""
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: install Debian's prometheus (`make debs-test`)"
    (tmp_path / "pki").mkdir()
    web = web_directory(tmp_path, make_pki(tmp_path / "pki"))
    if example:
        shutil.copy(EXAMPLE, web / "web-config.yml")
    result = subprocess.run(
        [promtool, "check", "web-config", str(web / "web-config.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    security = load_security(web / "web-config.yml")
    assert (True, [USER]) == (security.context is not None, list(security.settings.config.basic_auth_users))


def test_prometheus_scrapes_certwatch_over_tls_with_basic_auth(tmp_path: Path) -> None:
    """certwatch and Prometheus share one web configuration file. Prometheus answers 401 without credentials (it
    took the file), scrapes certwatch over HTTPS with basic auth (``up == 1``), and its job without credentials
    gets ``up == 0`` with a 401 that certwatch counts (reason ``missing``)."""
    (tmp_path / "pki").mkdir()
    web = web_directory(tmp_path, make_pki(tmp_path / "pki"))
    config = (
        "listeners: [{protocol: udp, address: '127.0.0.1:0'}]\n"
        f"http: {{address: '127.0.0.1:0', web_config_file: '{web / 'web-config.yml'}'}}\n"
    )
    with daemon_process(config, tmp_path) as daemon:
        certwatch = Https(daemon.http, web / "ca.crt")
        assert [401, 200] == [certwatch.get("/metrics", auth=auth)[0] for auth in (False, True)]
        with prometheus(tmp_path, web, daemon.http) as prom:
            assert 401 == prom.get("/api/v1/query?query=up", auth=False)[0]
            wait_until(lambda: 1.0 == prom.scalar(f'up{{job="{JOB}"}}'), "an authenticated scrape of certwatch")
            wait_until(lambda: 0.0 == prom.scalar('up{job="anonymous"}'), "a scrape without credentials")
            targets = prom.api("/api/v1/targets")["activeTargets"]
            errors = {t["labels"]["job"]: t["lastError"] for t in targets if t["health"] != "unknown"}
            assert "" == errors[JOB]
            assert "401" in errors["anonymous"]
            refused = f'certwatch_http_requests_refused_total{{job="{JOB}",reason="missing"}}'
            wait_until(lambda: (prom.scalar(refused) or 0.0) >= 1.0, "certwatch to count the anonymous scrapes")
