"""The ``probes`` section: defaults (off), a full valid section, and every problem at once with its path (files are
checked with the probe's own loader), as ``check-config`` reports them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from probe_certs import Made, chain, make

from certwatch import cli
from certwatch.config import ConfigInvalidError, load, parse
from certwatch.probe.model import ProbeSettings


def pem(directory: Path, name: str, made: Made, key: bool = False) -> Path:
    path = directory / name
    if key:
        path.write_bytes(
            made.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    else:
        path.write_bytes(made.cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(name="files")
def fixture_files(tmp_path: Path) -> dict[str, Path]:
    c = chain()
    client = make("expc01.example.com", c.root)
    other = make("someone else")
    return {
        "ca": pem(tmp_path, "ca.pem", c.root),
        "cert": pem(tmp_path, "client.pem", client),
        "key": pem(tmp_path, "client.key", client, key=True),
        "other_key": pem(tmp_path, "other.key", other, key=True),
        "not_pem": tmp_path.joinpath("notes.txt"),
    }


def problems(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigInvalidError) as info:
        parse(data)
    return info.value.problems


def test_probes_are_off_by_default() -> None:
    probes = parse({}).probes
    assert not probes.enabled
    assert (None, None, None, 300.0, 10.0, 4, False, ()) == (
        probes.ca_file, probes.client_cert, probes.client_key, probes.interval, probes.timeout, probes.concurrency,
        probes.from_incidents, probes.targets,
    )  # fmt: skip
    assert parse({"probes": {"ca_file": None}}) == parse({})


def test_a_full_section(files: dict[str, Path]) -> None:
    probes = parse(
        {
            "probes": {
                "ca_file": str(files["ca"]),
                "client_cert": str(files["cert"]),
                "client_key": str(files["key"]),
                "interval": "2m",
                "timeout": "3s",
                "concurrency": 8,
                "targets": [
                    {"origin": "cucm-pub.example.com", "port": 8443},
                    {"origin": "cucm-sub1.example.com", "port": 6972, "address": "10.10.10.12"},
                    {"origin": "10.10.10.13", "port": 8443},
                    {"origin": "2001:db8::14", "port": 443, "address": "2001:db8::14"},
                ],
            }
        }
    ).probes
    assert probes.enabled
    assert (120.0, 3.0, 8) == (probes.interval, probes.timeout, probes.concurrency)
    assert ("cucm-sub1.example.com", 6972, "10.10.10.12") == (
        probes.targets[1].origin, probes.targets[1].port, probes.targets[1].address
    )  # fmt: skip
    assert ProbeSettings(files["ca"], files["cert"], files["key"], 3.0) == probes.settings()


def test_from_incidents_alone_turns_probing_on() -> None:
    assert parse({"probes": {"from_incidents": True}}).probes.enabled


def test_every_problem_of_the_section_at_once(files: dict[str, Path]) -> None:
    files["not_pem"].write_text("not a certificate\n")
    data = {
        "probes": {
            "ca_file": str(files["not_pem"]),
            "client_cert": str(files["cert"]),
            "interval": "100ms",
            "timeout": 0,
            "concurrency": 0,
            "from_incidents": "maybe",
            "targets": [
                {"origin": "cucm.example.com", "port": 0},
                {"origin": "cucm.example.com", "port": 70000},
                {"origin": "cucm.example.com:8443", "port": 8443},
                {"origin": "cucm.example.com", "port": 8443, "address": "cucm"},
                {"port": 8443},
                {"origin": "x.example.com", "port": 8443, "sni": "y"},
            ],
            "bogus": 1,
        },
        "correlation": {"join_window": "soon"},  # and another section's problem, in the same list
    }
    found = problems(data)
    ca_problem = f"probes.ca_file: ca_file {files['not_pem']}: no PEM certificate could be read ("
    assert found[1].startswith(ca_problem)  # then the library's reason
    found[1] = ca_problem
    assert [
        "correlation.join_window: not a duration: 'soon' (use seconds or a unit: 500ms, 5s, 15m, 2h, 1d)",
        ca_problem,
        "probes.client_key: client_cert needs client_key (its private key)",
        "probes.interval: Input should be greater than or equal to 1",
        "probes.timeout: Input should be greater than 0",
        "probes.concurrency: Input should be greater than or equal to 1",
        "probes.from_incidents: Input should be a valid boolean, unable to interpret input",
        "probes.targets.0.port: Input should be greater than or equal to 1",
        "probes.targets.1.port: Input should be less than or equal to 65535",
        "probes.targets.2.origin: 'cucm.example.com:8443' is neither a host name nor an IP address",
        "probes.targets.3.address: 'cucm' is not an IP address",
        "probes.targets.4.origin: Field required",
        "probes.targets.5.sni: Extra inputs are not permitted",
        "probes.bogus: Extra inputs are not permitted",
    ] == found


def test_missing_files_and_a_key_without_its_certificate(tmp_path: Path, files: dict[str, Path]) -> None:
    found = problems({"probes": {"ca_file": str(tmp_path / "nowhere.pem"), "client_key": str(files["key"])}})
    assert [
        f"probes.ca_file: {tmp_path / 'nowhere.pem'} is not a file",
        "probes.client_key: client_key needs client_cert (the certificate of that key)",
    ] == found


def test_a_client_pair_that_does_not_match(files: dict[str, Path]) -> None:
    found = problems({"probes": {"client_cert": str(files["cert"]), "client_key": str(files["other_key"])}})
    assert [
        f"probes.client_key: client_key {files['other_key']} is not the key of client_cert {files['cert']}"
    ] == found


def test_a_target_listed_twice() -> None:
    target = {"origin": "cucm.example.com", "port": 8443}
    other = {"origin": "cucm.example.com", "port": 6972}
    assert ["probes.targets: 2: cucm.example.com port 8443 is listed twice"] == problems(
        {"probes": {"targets": [target, other, target]}}
    )


def test_environment_overrides_reach_the_section() -> None:
    config = load(None, {"probes.targets": [{"origin": "cucm.example.com", "port": 8443}], "probes.interval": "1s"})
    assert (1, 1.0) == (len(config.probes.targets), config.probes.interval)


def test_check_config_lists_every_problem(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """``certwatch check-config`` exits 2 and prints each problem; a valid section is summarised."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"probes:\n  client_cert: {files['cert']}\n  client_key: {files['other_key']}\n  concurrency: 0\n"
        "  targets: [{origin: cucm.example.com, port: 0}]\n"
    )
    assert 2 == cli.main(["check-config", str(bad)])
    err = capsys.readouterr().err
    assert "probes.client_key: client_key" in err
    assert "probes.concurrency: Input should be greater than or equal to 1" in err
    assert "probes.targets.0.port: Input should be greater than or equal to 1" in err
    good = tmp_path / "good.yaml"
    good.write_text(f"probes:\n  ca_file: {files['ca']}\n  targets: [{{origin: cucm.example.com, port: 8443}}]\n")
    assert 0 == cli.main(["check-config", str(good)])
    assert '"probes":{"enabled":true,"targets":1,"from_incidents":false' in capsys.readouterr().out


def test_without_probes_the_daemon_never_loads_openssl() -> None:
    """The daemon's modules and a configuration without probe files leave pyOpenSSL and cryptography unloaded."""
    code = (
        "import sys, certwatch.app, certwatch.cli; from certwatch.config import parse; "
        "parse({'probes': {'targets': [{'origin': 'cucm.example.com', 'port': 8443}]}}); "
        "print('OpenSSL' in sys.modules, 'cryptography' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert "False False" == done.stdout.strip()
