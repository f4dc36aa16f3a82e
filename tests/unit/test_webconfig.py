"""``http.web_config_file``: the exporter-toolkit format (keys, values, the rules between them, every problem at
once), the bcrypt cache, the Authorization header, the rate limit and the SAN check. The TLS material itself and
the HTTP side are tested against real clients in ``tests/integration/test_http_security.py``."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from certwatch.config import ConfigInvalidError, parse
from certwatch.export import webconfig
from certwatch.export.webauth import Credentials, TokenBucket, credentials_of
from certwatch.export.webconfig import WebConfigError
from certwatch.export.webtls import san_allowed

HASH = bcrypt.hashpw(b"right", bcrypt.gensalt(4)).decode()


def files(directory: Path, *names: str) -> Path:
    for name in names:
        (directory / name).write_text("placeholder\n")
    return directory


def problems(data: Any, directory: Path) -> list[str]:
    with pytest.raises(WebConfigError) as caught:
        webconfig.parse(data, directory)
    return caught.value.problems


def test_a_complete_file_loads_with_relative_paths_against_its_directory(tmp_path: Path) -> None:
    """Every key of the format, as a NOC's file has them; cert_file, key_file and client_ca_file resolve against
    the file's directory, not the working directory."""
    files(tmp_path, "server.crt", "server.key", "ca.crt")
    path = tmp_path / "web.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_auth_type": "RequireAndVerifyClientCert",
                    "client_ca_file": "ca.crt",
                    "client_allowed_sans": ["prometheus.example.com"],
                    "min_version": "TLS13",
                    "max_version": "TLS13",
                    "cipher_suites": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"],
                    "prefer_server_cipher_suites": False,
                    "curve_preferences": ["X25519"],
                },
                "http_server_config": {
                    "http2": False,
                    "headers": {
                        "Strict-Transport-Security": "max-age=31536000",
                        "X-Content-Type-Options": "nosniff",
                        "X-Frame-Options": "deny",
                        "X-XSS-Protection": "1; mode=block",
                        "Content-Security-Policy": "default-src 'none'",
                    },
                },
                "basic_auth_users": {"prometheus": HASH, "alice": HASH.replace("$2b$", "$2y$")},
                "rate_limit": {"interval": "1m30s", "burst": 20},
            }
        )
    )
    settings = webconfig.load(path)
    tls = settings.config.tls_server_config
    assert (tmp_path / "server.crt", tmp_path / "server.key", tmp_path / "ca.crt") == (
        tls.cert_file,
        tls.key_file,
        tls.client_ca_file,
    )
    assert (True, True, ("prometheus.example.com",)) == (tls.enabled, tls.verifies_clients, tls.client_allowed_sans)
    assert ["alice", "prometheus"] == sorted(settings.config.basic_auth_users)
    assert (90.0, 20) == (settings.config.rate_limit.interval, settings.config.rate_limit.burst)
    assert "nosniff" == settings.config.http_server_config.headers["X-Content-Type-Options"]


def test_an_empty_file_or_empty_sections_are_the_toolkit_defaults(tmp_path: Path) -> None:
    """Go's zero values: no TLS, no users, no headers, no rate limit; ``key:`` with nothing after it is no error."""
    for data in (None, {}, {"tls_server_config": None, "basic_auth_users": None, "http_server_config": None}):
        config = webconfig.parse(data, tmp_path)
        tls = config.tls_server_config
        assert (False, {}, {}, 0.0) == (
            tls.enabled,
            config.basic_auth_users,
            config.http_server_config.headers,
            config.rate_limit.interval,
        )
        assert ("TLS12", "TLS13", True) == (tls.min_version, tls.max_version, tls.prefer_server_cipher_suites)


def test_tls_is_on_as_soon_as_one_tls_key_is_given(tmp_path: Path) -> None:
    """As the toolkit: min_version alone keeps plain HTTP; client_auth_type alone turns TLS on (and then a
    certificate and key are missing)."""
    assert not webconfig.parse({"tls_server_config": {"min_version": "TLS13"}}, tmp_path).tls_server_config.enabled
    assert [
        "tls_server_config: missing one of cert or cert_file",
        "tls_server_config: missing one of key or key_file",
    ] == problems({"tls_server_config": {"client_auth_type": "NoClientCert"}}, tmp_path)


def test_every_bad_value_is_reported_at_once_with_its_path(tmp_path: Path) -> None:
    """Unknown keys at every level, bad enumerations, cipher and curve names, headers, hashes, durations, and files
    that cannot be read: one problem each, all in one error."""
    found = problems(
        {
            "tls_server_config": {
                "cert_file": "missing.crt",
                "key_file": "missing.key",
                "client_auth_type": "VerifyAlways",
                "min_version": "TLS9",
                "cipher_suites": ["TLS_RSA_WITH_RC4_128_SHA"],
                "curve_preferences": ["CurveP256", "CurveP384"],
                "certfile": "typo",
            },
            "http_server_config": {"headers": {"Server": "x", "X-Frame-Options": "allow"}, "http3": True},
            "basic_auth_users": {"alice": "plain-text-password"},
            "rate_limit": {"interval": "1 minute", "burst": -1},
            "web_listen_address": ":9100",
        },
        tmp_path,
    )
    paths = sorted(problem.split(": ", 1)[0] for problem in found)
    assert [
        "basic_auth_users.alice",
        "http_server_config.headers",
        "http_server_config.http3",
        "rate_limit.burst",
        "rate_limit.interval",
        "tls_server_config.cert_file",
        "tls_server_config.certfile",
        "tls_server_config.cipher_suites.0",
        "tls_server_config.client_auth_type",
        "tls_server_config.curve_preferences",
        "tls_server_config.key_file",
        "tls_server_config.min_version",
        "web_listen_address",
    ] == paths
    text = "\n".join(found)
    for expected in (
        "cannot read",
        "unknown cipher suite 'TLS_RSA_WITH_RC4_128_SHA'",
        "header 'Server' cannot be set",
        "X-Frame-Options must be one of deny, sameorigin",
        "not a bcrypt hash",
        "not a duration: '1 minute'",
        "certwatch takes one curve",
        "Extra inputs are not permitted",
    ):
        assert expected in text
    assert "plain-text-password" not in text  # a secret is never echoed


def test_the_rules_between_keys_are_checked_together(tmp_path: Path) -> None:
    """The toolkit's rules (and certwatch's refusal of an unverified client certificate), with the single-value
    problems of the same file."""
    files(tmp_path, "server.crt", "server.key", "ca.crt")
    found = problems(
        {
            "tls_server_config": {
                "cert": "-----BEGIN CERTIFICATE-----",
                "cert_file": "server.crt",
                "client_ca_file": "ca.crt",
                "client_allowed_sans": ["x"],
                "min_version": "TLS13",
                "max_version": "TLS12",
            },
            "basic_auth_users": {"bob": "$2y$10$short"},
        },
        tmp_path,
    )
    assert [
        (
            "basic_auth_users.bob: not a bcrypt hash ($2y$, $2b$ or $2a$, cost 04 to 31: htpasswd -nBC 10 '' | tr -d "
            "':\\n')"
        ),
        "tls_server_config: missing one of key or key_file",
        "tls_server_config: give cert or cert_file, not both",
        "tls_server_config: a client CA is configured without client_auth_type (RequireAndVerifyClientCert)",
        "tls_server_config.client_allowed_sans: needs client_auth_type RequireAndVerifyClientCert",
        "tls_server_config: min_version TLS13 is above max_version TLS12",
    ] == found


@pytest.mark.parametrize("auth", ["RequireAnyClientCert", "RequireClientCert"])
def test_a_client_certificate_without_verification_is_refused(tmp_path: Path, auth: str) -> None:
    """Python's ssl verifies every client certificate it asks for: the toolkit's "any certificate" policy cannot be
    kept, so it is refused with what to use instead, never silently tightened or loosened."""
    files(tmp_path, "server.crt", "server.key")
    data = {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key", "client_auth_type": auth}}
    assert [
        (
            f"tls_server_config.client_auth_type: {auth} (a client certificate without verification) is not supported: "
            "use RequireAndVerifyClientCert with client_ca_file"
        )
    ] == problems(data, tmp_path)


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0.0), ("500ms", 0.5), ("1s", 1.0), ("1m30s", 90.0), ("1h", 3600.0), ("250us", 0.00025)]
)
def test_rate_limit_interval_is_a_go_duration(tmp_path: Path, text: str, seconds: float) -> None:
    assert seconds == pytest.approx(webconfig.parse({"rate_limit": {"interval": text}}, tmp_path).rate_limit.interval)


def test_unreadable_or_invalid_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError) as missing:
        webconfig.load(tmp_path / "absent.yml")
    (tmp_path / "bad.yml").write_text("basic_auth_users: [\n")
    with pytest.raises(WebConfigError) as bad:
        webconfig.load(tmp_path / "bad.yml")
    (tmp_path / "list.yml").write_text("- a\n")
    with pytest.raises(WebConfigError) as listed:
        webconfig.load(tmp_path / "list.yml")
    assert "cannot read" in missing.value.problems[0]
    assert "invalid YAML" in bad.value.problems[0]
    assert ["(top level): expected a mapping of options"] == listed.value.problems


def test_the_main_configuration_names_a_readable_web_config_file(tmp_path: Path) -> None:
    """``http.web_config_file`` must be a readable file, reported with the other problems of the main file."""
    with pytest.raises(ConfigInvalidError) as caught:
        parse({"http": {"web_config_file": str(tmp_path / "absent.yml")}, "logging": {"level": "loud"}})
    assert ["http.web_config_file", "logging.level"] == sorted(p.split(":")[0] for p in caught.value.problems)
    (tmp_path / "web.yml").write_text("{}\n")
    assert tmp_path / "web.yml" == parse({"http": {"web_config_file": str(tmp_path / "web.yml")}}).http.web_config_file


# ---- basic auth --------------------------------------------------------------------------------------------------


def header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_authorization_header_parsing() -> None:
    """User and password bytes of a basic header (the password may hold colons); anything else says why not."""
    assert (b"alice", b"a:b") == credentials_of(header("alice", "a:b"))
    assert (b"alice", b"x") == credentials_of("basic " + base64.b64encode(b"alice:x").decode())
    assert "missing" == credentials_of(None)
    assert "missing" == credentials_of("")
    assert "malformed" == credentials_of("Bearer abc")
    assert "malformed" == credentials_of("Basic !!!")
    assert "malformed" == credentials_of("Basic " + base64.b64encode(b"no-colon").decode())


def test_every_outcome_is_cached_so_repeated_requests_cost_one_bcrypt_check() -> None:
    """Right, wrong and unknown-user checks each run bcrypt once; repeats, and identical checks in flight at the
    same time, come from the cache."""

    async def scenario() -> None:
        credentials = Credentials({"alice": HASH})
        assert [True, True] == [await credentials.check(b"alice", b"right") for _ in range(2)]
        assert 1 == credentials.bcrypt_checks
        flood = await asyncio.gather(*(credentials.check(b"alice", b"wrong") for _ in range(50)))
        assert ([False] * 50, 2) == (flood, credentials.bcrypt_checks)
        assert [False, False] == [await credentials.check(b"mallory", b"right") for _ in range(2)]
        assert 3 == credentials.bcrypt_checks
        assert [False, False] == [await credentials.check(b"alice", b"wrong") for _ in range(2)]
        assert 3 == credentials.bcrypt_checks

    asyncio.run(scenario())


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    async def scenario() -> None:
        credentials = Credentials({"alice": HASH}, size=2)
        for password in (b"right", b"one", b"right", b"two", b"right"):
            await credentials.check(b"alice", password)
        assert 3 == credentials.bcrypt_checks  # "right" stayed in, the others came and went
        await credentials.check(b"alice", b"one")
        assert 4 == credentials.bcrypt_checks

    asyncio.run(scenario())


def test_passwords_beyond_72_bytes_compare_as_bcrypt_reads_them() -> None:
    """bcrypt reads 72 bytes: as in Go, the rest is ignored rather than refused."""

    async def scenario() -> None:
        long = b"p" * 72
        credentials = Credentials({"alice": bcrypt.hashpw(long, bcrypt.gensalt(4)).decode()})
        assert (True, False) == (
            await credentials.check(b"alice", long + b"more"),
            await credentials.check(b"alice", b"p"),
        )

    asyncio.run(scenario())


def test_token_bucket_is_full_at_start_and_refills_one_per_interval() -> None:
    now = [0.0]
    bucket = TokenBucket(1.0, 2, clock=lambda: now[0])
    assert [True, True, False] == [bucket.allow() for _ in range(3)]
    now[0] = 1.0
    assert [True, False] == [bucket.allow(), bucket.allow()]
    assert [False] == [TokenBucket(1.0, 0, clock=lambda: now[0]).allow()]


def test_client_san_matching() -> None:
    """DNS, e-mail, URI and IP SANs match exactly (IP addresses in Go's spelling); the subject does not count."""
    cert = {
        "subject": ((("commonName", "prometheus.example.com"),),),
        "subjectAltName": (("DNS", "prom.example.com"), ("IP Address", "2001:DB8:0:0:0:0:0:1\n"), ("email", "a@b")),
    }
    assert san_allowed(cert, ("prom.example.com",))
    assert san_allowed(cert, ("2001:db8::1",))
    assert san_allowed(cert, ("a@b",))
    assert not san_allowed(cert, ("prometheus.example.com",))
    assert not san_allowed(None, ("prom.example.com",))


# ---- the shipped example and the deployment files ------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "web-config.yml"


def test_the_shipped_example_loads_and_lets_no_one_in_as_shipped(tmp_path: Path) -> None:
    """deploy/web-config.yml is valid next to its tls.crt and tls.key (relative names); its one user's hash is a
    real bcrypt hash, of no password a reader could guess from the repository."""
    files(tmp_path, "tls.crt", "tls.key")
    (tmp_path / "web-config.yml").write_text(EXAMPLE.read_text())
    config = webconfig.load(tmp_path / "web-config.yml").config
    (hashed,) = config.basic_auth_users.values()
    assert (tmp_path / "tls.crt", tmp_path / "tls.key") == (
        config.tls_server_config.cert_file,
        config.tls_server_config.key_file,
    )
    for guess in ("", "prometheus", "password", "changeme", "admin", "certwatch"):
        assert not bcrypt.checkpw(guess.encode(), hashed.encode())


def test_deployment_files_mount_the_web_config_where_the_container_config_names_it() -> None:
    """The commented web_config_file of the container configuration lives in the directory that compose and the
    Kubernetes Deployment (commented too) mount, and the example's name is the file's name there."""
    container = (ROOT / "deploy" / "certwatch.container.yaml").read_text()
    (named,) = [line.split(":", 1)[1].strip() for line in container.splitlines() if "web_config_file:" in line]
    directory, _, name = named.rpartition("/")
    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    deployment = (ROOT / "deploy" / "kubernetes" / "deployment.yaml").read_text()
    assert (EXAMPLE.name, True) == (name, f"./certwatch-web:{directory}:ro" in compose)
    assert f"mountPath: {directory}" in deployment
    assert f"--from-file={name}" in deployment
