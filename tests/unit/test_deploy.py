"""The deployment files agree with the daemon they deploy.

The systemd unit, the container image, the compose stack, the Kubernetes manifests and the Alertmanager
configuration are parsed here (no container engine runs in CI) and checked against the daemon's real command-line
parser, configuration model, HTTP routes, exit statuses, metric names and the alert rules. The external checkers
(``systemd-analyze``, ``amtool``, ``promtool``, a real Alertmanager) run in ``tests/integration/test_systemd.py``
and ``tests/integration/test_deploy_tools.py``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from certwatch import persist, sdnotify
from certwatch.app import EXIT_STARTUP, Daemon
from certwatch.cli import EXIT_USAGE, _parser
from certwatch.config import Config, UdpListener, load, parse, split_address
from certwatch.export.http import build_app
from certwatch.telemetry import METRICS

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "certwatch.service"
SYSCTL = ROOT / "systemd" / "99-certwatch.conf"
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
CONTAINER_CONFIG = DEPLOY / "certwatch.container.yaml"
COMPOSE = DEPLOY / "compose.yaml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
RULES = DEPLOY / "prometheus" / "certwatch-rules.yml"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
KUBE = DEPLOY / "kubernetes"
GRAFANA = ROOT / "grafana"
DOCS = ROOT / "docs" / "deploy.md"

# The install location docs/deploy.md documents, and the configuration path of the unit and the images.
INSTALL_DIR = PurePosixPath("/opt/certwatch")
EXECUTABLE = str(INSTALL_DIR / "bin" / "certwatch")
CONFIG_PATH = PurePosixPath("/etc/certwatch/certwatch.yaml")
JOB = "certwatch"


# ---- readers -----------------------------------------------------------------------------------------------------


def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """``(section, key, value)`` of a systemd unit in file order: comments skipped, continuation lines joined."""
    entries = []
    section = pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(key: str, section: str = "Service") -> list[str]:
    """Every assignment of ``key`` (list settings such as SystemCallFilter= accumulate)."""
    return [value for sect, name, value in unit_entries(UNIT.read_text()) if (sect, name) == (section, key)]


def directive(key: str, section: str = "Service") -> str:
    """The effective value of a single-valued setting: the last assignment wins, as in systemd."""
    values = unit_values(key, section)
    assert values, f"{UNIT.name}: no {key}= in [{section}]"
    return values[-1]


def systemd_seconds(value: str) -> float:
    """``30s``, ``5min``, ``1min 30s``, ``500ms`` or plain seconds (systemd.time(7), the units used here)."""
    units = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    assert parts, f"not a time span: {value!r}"
    return sum(float(number) * units[unit or "s"] for number, unit in parts)


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of ``(INSTRUCTION, arguments)``, continuation lines joined, comments skipped;
    instructions before the first FROM (global ARGs) form stage 0."""
    stages: list[list[tuple[str, str]]] = [[]]
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), " ".join(arguments.split())))
    return stages


def instructions(stage: list[tuple[str, str]], name: str) -> list[str]:
    return [arguments for instruction, arguments in stage if instruction == name]


def exec_form(arguments: str) -> list[str]:
    """The JSON (exec) form of CMD, ENTRYPOINT and HEALTHCHECK CMD; the shell form is refused."""
    assert arguments.startswith("["), f"not in exec form (PID 1 must be certwatch, not a shell): {arguments}"
    argv: list[str] = json.loads(arguments)
    return argv


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object of deploy/kubernetes, by ``Kind/name``."""
    objects = {}
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "kind" in doc and doc["kind"] != "Kustomization":
                objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


def routes() -> set[str]:
    """The paths the daemon's HTTP server really serves."""
    app = build_app(Daemon(Config()).state)
    return {route.resource.canonical for route in app.router.routes() if route.resource is not None}


def container_config() -> Config:
    return load(CONTAINER_CONFIG)


def config_ports(config: Config) -> set[tuple[int, str]]:
    """``(port, udp|tcp)`` of every listener and of HTTP."""
    ports = {(listener.host_port[1], "udp" if listener.protocol == "udp" else "tcp") for listener in config.listeners}
    return ports | {(split_address(config.http.address)[1], "tcp")}


def run_args(argv: list[str]) -> tuple[str, PurePosixPath | None]:
    """Parse ``argv`` (after the program) with certwatch's real parser: the command and its --config."""
    args = _parser().parse_args(argv)
    config = getattr(args, "config", None)
    return args.command, None if config is None else PurePosixPath(config)


def alert_names() -> set[str]:
    return {rule["alert"] for group in read_yaml(RULES)["groups"] for rule in group["rules"] if "alert" in rule}


def matcher_names(matchers: list[str]) -> set[str]:
    """The alert names an Alertmanager matcher list selects (``alertname="A"`` or ``alertname=~"A|B"``)."""
    names: set[str] = set()
    for matcher in matchers:
        found = re.fullmatch(r'alertname(=~|=)"([^"]*)"', matcher.replace(" ", ""))
        if found:
            names |= set(found.group(2).split("|"))
    return names


def compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = read_yaml(COMPOSE)["services"][name]
    return service


def compose_mounts(name: str) -> dict[str, str]:
    """``{container path: source}`` of a compose service's volumes (bind mounts and named volumes)."""
    mounts = {}
    for volume in compose_service(name).get("volumes", []):
        source, target = volume.split(":")[:2]
        mounts[target] = source
    return mounts


def flag(command: list[str], name: str) -> str:
    values = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"{name}=")]
    assert len(values) == 1, f"{name} not given once in {command}"
    return values[0]


# ---- systemd -----------------------------------------------------------------------------------------------------


def test_unit_starts_the_documented_install_with_the_documented_config() -> None:
    """ExecStart runs the console script of the /opt/certwatch virtual environment, and certwatch's own parser
    reads its arguments as ``run --config /etc/certwatch/certwatch.yaml``."""
    argv = shlex.split(directive("ExecStart"))
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert [EXECUTABLE, "run", "--config", str(CONFIG_PATH)] == argv  # as documented (argparse would take --conf)
    assert "certwatch.cli:main" == scripts[PurePosixPath(argv[0]).name]
    assert ("run", CONFIG_PATH) == run_args(argv[1:])


def test_unit_is_a_notify_service_with_a_watchdog() -> None:
    """Type=notify (the daemon sends READY=1), and WatchdogSec= yields the ping interval the daemon uses."""
    watchdog = systemd_seconds(directive("WatchdogSec"))
    usec = str(int(watchdog * 1_000_000))
    assert ("notify", "main") == (directive("Type"), directive("NotifyAccess"))
    assert watchdog >= 10
    assert watchdog / 2 == sdnotify.watchdog_interval({"WATCHDOG_USEC": usec})


def test_unit_reload_sends_sighup_to_the_daemon() -> None:
    """ExecReload= signals the main process with SIGHUP, the daemon's reload signal."""
    assert ["/bin/kill", "-HUP", "$MAINPID"] == shlex.split(directive("ExecReload"))


def test_unit_does_not_restart_an_invalid_configuration() -> None:
    """Restart=on-failure, except for the CLI's configuration-error status; "cannot start" (a port taken) is
    retried."""
    prevented = directive("RestartPreventExitStatus").split()
    assert ("on-failure", [str(EXIT_USAGE)]) == (directive("Restart"), prevented)
    assert str(EXIT_STARTUP) not in prevented
    assert systemd_seconds(directive("RestartSec")) > 0


def test_unit_waits_longer_than_the_shutdown_drain() -> None:
    """TimeoutStopSec= leaves room for daemon.shutdown_timeout, the bound on the SIGTERM drain."""
    assert systemd_seconds(directive("TimeoutStopSec")) > Config().daemon.shutdown_timeout


def test_unit_runs_unprivileged_with_only_the_bind_capability() -> None:
    """A dynamic user that may bind 514/6514 and nothing more: no CAP_NET_ADMIN (see 99-certwatch.conf)."""
    granted = {
        "DynamicUser": directive("DynamicUser"),
        "AmbientCapabilities": directive("AmbientCapabilities"),
        "CapabilityBoundingSet": directive("CapabilityBoundingSet"),
    }
    assert {
        "DynamicUser": "yes",
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
    } == granted
    assert [] == [entry for entry in unit_entries(UNIT.read_text()) if "CAP_NET_ADMIN" in entry[2]]


def test_unit_hardening() -> None:
    """The sandbox settings; /proc stays readable (ProcSubset= unset) for the UDP drop counters in /proc/net."""
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "PrivateMounts": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "ProtectProc": "invisible",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
    }
    assert expected == {key: directive(key) for key in expected}
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} == set(directive("RestrictAddressFamilies").split())
    assert "@system-service" in unit_values("SystemCallFilter")
    assert [] == unit_values("ProcSubset")


def test_unit_reads_its_config_from_its_configuration_directory() -> None:
    """ConfigurationDirectory= is /etc/certwatch, where ExecStart's --config lives; the incident state goes to
    StateDirectory= (systemd passes $STATE_DIRECTORY, which state.path defaults to), private to the service."""
    assert CONFIG_PATH.parent == PurePosixPath("/etc") / directive("ConfigurationDirectory")
    assert (["certwatch"], "0700") == (unit_values("StateDirectory"), directive("StateDirectoryMode"))
    assert persist.default_path({"STATE_DIRECTORY": "/var/lib/certwatch"}) == Path("/var/lib/certwatch/state.json")


def test_unit_is_enabled_for_multi_user_boots() -> None:
    """``systemctl enable`` links it into multi-user.target."""
    assert "multi-user.target" == directive("WantedBy", "Install")


def test_sysctl_lets_the_default_receive_buffer_through() -> None:
    """net.core.rmem_max is at least every configured receive_buffer_bytes: without CAP_NET_ADMIN the daemon
    falls back to SO_RCVBUF, which the kernel caps at rmem_max."""
    settings = dict(
        (part.strip() for part in line.split("=", 1))
        for line in SYSCTL.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", ";"))
    )
    wanted = [UdpListener.model_fields["receive_buffer_bytes"].default] + [
        listener.receive_buffer_bytes for listener in container_config().listeners if isinstance(listener, UdpListener)
    ]
    assert ["net.core.rmem_max"] == list(settings)
    assert int(settings["net.core.rmem_max"]) >= max(wanted)


# ---- the container configuration ----------------------------------------------------------------------------------


def test_container_config_listens_on_all_interfaces_on_unprivileged_ports() -> None:
    """Every listener and HTTP bind 0.0.0.0 on ports a non-root user may bind; the rest is the defaults."""
    config = container_config()
    hosts = {listener.host_port[0] for listener in config.listeners} | {split_address(config.http.address)[0]}
    changed = {name for name in Config.model_fields if getattr(config, name) != getattr(Config(), name)}
    assert {"0.0.0.0"} == hosts
    assert [] == [port for port, _ in config_ports(config) if port < 1024]
    assert {"listeners", "http"} >= changed


# ---- the image -----------------------------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_slim_python() -> None:
    """A build stage and a final stage, both on the slim Python 3.11 image."""
    header, build, final = dockerfile_stages()
    (base,) = instructions(header, "ARG")
    name, _, image = base.partition("=")
    assert ("PYTHON_IMAGE", True) == (name, image.startswith("python:3.11-slim"))
    assert (["${PYTHON_IMAGE} AS build"], ["${PYTHON_IMAGE}"]) == (
        instructions(build, "FROM"),
        instructions(final, "FROM"),
    )


def test_dockerfile_installs_the_project_as_ci_does() -> None:
    """The build stage copies pyproject.toml and every file its build reads (readme, version file, package) into
    one directory and pip-installs that directory into the /opt/certwatch virtual environment, as docs/deploy.md
    does; ``make test`` installs the same pyproject.toml."""
    _, build, _ = dockerfile_stages()
    (workdir,) = instructions(build, "WORKDIR")
    landed = {}  # source in the repository -> where it lands in the build stage
    for arguments in instructions(build, "COPY"):
        *sources, destination = arguments.split()
        target = PurePosixPath(workdir) / destination
        for source in sources:
            landed[source.rstrip("/")] = target if source.endswith("/") else target / PurePosixPath(source).name
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = [
        "pyproject.toml",
        pyproject["project"]["readme"],
        pyproject["tool"]["hatch"]["version"]["path"],
        *pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"],
    ]
    missing = [path for path in needed if not any(path == s or path.startswith(s + "/") for s in landed)]
    (run,) = instructions(build, "RUN")
    steps = [shlex.split(step) for step in run.split("&&")]
    assert [] == missing
    assert {source: PurePosixPath(workdir) / source for source in landed} == landed
    assert ["python", "-m", "venv", str(INSTALL_DIR)] == steps[0]
    assert [str(INSTALL_DIR / "bin" / "pip"), "install", workdir] == steps[1]
    assert [EXECUTABLE, "--version"] == steps[-1]


def test_final_image_has_no_build_tools() -> None:
    """The final stage only adds a user, the built environment and the configuration: no pip, apt or compiler."""
    _, build, final = dockerfile_stages()
    runs = " ".join(instructions(final, "RUN"))
    copies_from_build = [arguments for arguments in instructions(final, "COPY") if arguments.startswith("--from")]
    (build_run,) = instructions(build, "RUN")
    assert [] == [tool for tool in ("pip", "apt", "gcc", "make", "cc ") if tool in runs]
    assert [f"--from=build {INSTALL_DIR} {INSTALL_DIR}"] == copies_from_build
    assert f"{INSTALL_DIR}/bin/pip uninstall --yes pip" in build_run


def test_image_runs_as_a_non_root_user() -> None:
    """USER is a numeric non-root uid, the one the Kubernetes Deployment runs as."""
    _, _, final = dockerfile_stages()
    (user,) = instructions(final, "USER")
    uid, _, gid = user.partition(":")
    pod = manifests()["Deployment/certwatch"]["spec"]["template"]["spec"]["securityContext"]
    assert (int(uid), int(gid)) == (pod["runAsUser"], pod["runAsGroup"])
    assert int(uid) > 0


def test_image_runs_the_baked_configuration() -> None:
    """ENTRYPOINT + CMD is ``certwatch run --config`` of the file copied from deploy/certwatch.container.yaml,
    with the executable of the documented install (the systemd unit's)."""
    _, _, final = dockerfile_stages()
    (entrypoint,) = instructions(final, "ENTRYPOINT")
    (cmd,) = instructions(final, "CMD")
    argv = exec_form(entrypoint) + exec_form(cmd)
    baked = {
        PurePosixPath(arguments.split()[1]): PurePosixPath(arguments.split()[0])
        for arguments in instructions(final, "COPY")
        if not arguments.startswith("--from")
    }
    command, config = run_args(argv[1:])
    assert (EXECUTABLE, "run", "--config") == (argv[0], command, argv[2])
    assert config is not None
    assert CONTAINER_CONFIG.relative_to(ROOT).as_posix() == baked[config].as_posix()
    assert shlex.split(directive("ExecStart"))[0] == argv[0]


def test_image_exposes_the_configured_ports() -> None:
    """EXPOSE lists exactly the syslog and HTTP ports of the baked configuration."""
    _, _, final = dockerfile_stages()
    exposed = {
        (int(port), protocol)
        for arguments in instructions(final, "EXPOSE")
        for port, _, protocol in (item.partition("/") for item in arguments.split())
    }
    assert config_ports(container_config()) == exposed


def test_healthcheck_asks_healthz_with_the_image_python() -> None:
    """slim has no curl: the HEALTHCHECK is the environment's Python fetching /healthz on the HTTP port."""
    _, _, final = dockerfile_stages()
    (healthcheck,) = instructions(final, "HEALTHCHECK")
    argv = exec_form(healthcheck[healthcheck.index("CMD [") + 4 :])
    port = split_address(container_config().http.address)[1]
    assert [str(INSTALL_DIR / "bin" / "python"), "-c"] == argv[:2]
    compile(argv[2], "<healthcheck>", "exec")
    assert f"'http://127.0.0.1:{port}/healthz'" in argv[2]
    assert "/healthz" in routes()


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    """Everything is ignored except what COPY reads from the context."""
    _, build, final = dockerfile_stages()
    sources = {
        source.rstrip("/")
        for arguments in instructions(build, "COPY") + instructions(final, "COPY")
        if not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    }
    kept = {line[1:].rstrip("/") for line in DOCKERIGNORE.read_text().splitlines() if line.startswith("!")}
    lines = [line for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")]
    assert sources == kept
    assert "**" == lines[0]
    assert all((ROOT / source).exists() for source in sources)


# ---- compose -------------------------------------------------------------------------------------------------------


def test_compose_runs_the_four_services() -> None:
    """certwatch, Prometheus, Alertmanager and Grafana; certwatch is built from deploy/Dockerfile at the root."""
    compose = read_yaml(COMPOSE)
    build = compose["services"]["certwatch"]["build"]
    assert {"certwatch", "prometheus", "alertmanager", "grafana"} == set(compose["services"])
    assert (ROOT, DOCKERFILE) == ((DEPLOY / build["context"]).resolve(), ROOT / build["dockerfile"])


def test_compose_publishes_the_certwatch_ports() -> None:
    """The container side of the published ports is what the image exposes."""
    published = set()
    for mapping in compose_service("certwatch")["ports"]:
        container, _, protocol = mapping.rsplit(":", 1)[1].partition("/")
        published.add((int(container), protocol or "tcp"))
    assert config_ports(container_config()) == published


def test_compose_bind_mounts_exist() -> None:
    """Every file or directory compose mounts from the repository is there (the rules file and Grafana's
    provisioning included)."""
    sources = [
        source
        for name in read_yaml(COMPOSE)["services"]
        for source in compose_mounts(name).values()
        if source.startswith(".")
    ]
    assert [] == [source for source in sources if not (DEPLOY / source).exists()]
    assert RULES.resolve() in {(DEPLOY / source).resolve() for source in sources}


def test_compose_prometheus_loads_its_config_and_the_rules() -> None:
    """--config.file is the mounted prometheus.yml, whose rule_files resolve to the mounted rules file."""
    mounts = compose_mounts("prometheus")
    config_file = PurePosixPath(flag(compose_service("prometheus")["command"], "--config.file"))
    rule_files = [config_file.parent / name for name in read_yaml(PROMETHEUS)["rule_files"]]
    assert PROMETHEUS.resolve() == (DEPLOY / mounts[str(config_file)]).resolve()
    assert [RULES.resolve()] == [(DEPLOY / mounts[str(path)]).resolve() for path in rule_files]


def test_compose_alertmanager_loads_its_config() -> None:
    """--config.file is the mounted alertmanager.yml."""
    mounts = compose_mounts("alertmanager")
    config_file = flag(compose_service("alertmanager")["command"], "--config.file")
    assert ALERTMANAGER.resolve() == (DEPLOY / mounts[config_file]).resolve()


def test_compose_grafana_is_provisioned_from_the_repository() -> None:
    """grafana/provisioning and grafana/dashboards are mounted where Grafana and the dashboard provider look, and
    the data source points at the compose Prometheus."""
    mounts = compose_mounts("grafana")
    assert "../grafana/provisioning" == mounts["/etc/grafana/provisioning"].removesuffix(":ro")
    assert "../grafana/dashboards" == mounts["/var/lib/grafana/dashboards"].removesuffix(":ro")
    providers = [p for f in (GRAFANA / "provisioning" / "dashboards").glob("*.y*ml") for p in read_yaml(f)["providers"]]
    sources = [
        d for f in (GRAFANA / "provisioning" / "datasources").glob("*.y*ml") for d in read_yaml(f)["datasources"]
    ]
    prometheus_port = compose_service("prometheus")["ports"][0].split(":")[1].partition("/")[0]
    assert ["/var/lib/grafana/dashboards"] == [provider["options"]["path"] for provider in providers]
    assert [f"http://prometheus:{prometheus_port}"] == [source["url"] for source in sources]


def test_compose_stop_grace_exceeds_the_shutdown_drain() -> None:
    """``docker compose stop`` waits longer than daemon.shutdown_timeout before SIGKILL."""
    grace = systemd_seconds(compose_service("certwatch")["stop_grace_period"])
    assert grace > container_config().daemon.shutdown_timeout


def test_prometheus_scrapes_certwatch_and_alerts_to_alertmanager() -> None:
    """Job "certwatch" scrapes the certwatch service on its HTTP port and path; alerts go to the alertmanager
    service."""
    config = read_yaml(PROMETHEUS)
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == JOB]
    (targets,) = [static["targets"] for static in job["static_configs"]]
    (alertmanagers,) = [s["targets"] for a in config["alerting"]["alertmanagers"] for s in a["static_configs"]]
    http_port = split_address(container_config().http.address)[1]
    alertmanager_port = compose_service("alertmanager")["ports"][0].split(":")[1].partition("/")[0]
    assert [f"certwatch:{http_port}"] == targets
    assert job.get("metrics_path", "/metrics") in routes()
    assert [f"alertmanager:{alertmanager_port}"] == alertmanagers


def test_rules_select_the_scrape_job() -> None:
    """The rules' job selector is the compose job and the Kubernetes Service name (the ServiceMonitor's job)."""
    selectors = set(re.findall(r'job="([^"]*)"', RULES.read_text()))
    assert {JOB} == selectors
    assert "Service/certwatch" in manifests()


# ---- Alertmanager ---------------------------------------------------------------------------------------------------


def test_inhibitions_name_alerts_of_the_rules() -> None:
    """Every alert name an inhibition matches exists in deploy/prometheus/certwatch-rules.yml."""
    inhibit = read_yaml(ALERTMANAGER)["inhibit_rules"]
    named = set().union(*(matcher_names(r["source_matchers"]) | matcher_names(r["target_matchers"]) for r in inhibit))
    assert set() == named - alert_names()


def test_one_page_per_problem() -> None:
    """The cluster-wide alert silences the per-node alerts of its origin; "certwatch down" silences the silent
    nodes. (tests/integration/test_deploy_tools.py runs a real Alertmanager on the same file.)"""
    inhibit = {
        frozenset(matcher_names(rule["source_matchers"])): (matcher_names(rule["target_matchers"]), rule["equal"])
        for rule in read_yaml(ALERTMANAGER)["inhibit_rules"]
    }
    cluster_targets, cluster_equal = inhibit[frozenset({"CertwatchOriginFailingClusterWide"})]
    down_targets, down_equal = inhibit[frozenset({"CertwatchDown"})]
    assert {"CertwatchOriginCertificateFailing", "CertwatchOriginCertificateAtRisk"} == cluster_targets
    assert ["cluster", "origin", "cause"] == cluster_equal
    assert ({"CertwatchNodeSilent"} <= down_targets, []) == (True, down_equal)


def carried_labels(alert: str) -> set[str]:
    """The labels the alerts of a rule name carry: the outer ``by (...)`` of each expression, and the rule's labels."""
    carried: set[str] = set()
    for group in read_yaml(RULES)["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                by = re.search(r"\bby \(([^)]*)\)", rule["expr"])
                carried |= {name.strip() for name in by.group(1).split(",")} if by else set()
                carried |= set(rule["labels"])
    return carried


def test_inhibitions_compare_labels_both_sides_carry() -> None:
    """An ``equal`` label missing on either side would compare empty values and silence unrelated alerts."""
    problems = []
    for rule in read_yaml(ALERTMANAGER)["inhibit_rules"]:
        for name in matcher_names(rule["source_matchers"]) | matcher_names(rule["target_matchers"]):
            problems += [(name, label) for label in rule["equal"] if label not in carried_labels(name)]
    assert [] == problems


def test_probe_alerts_page_once() -> None:
    """The enforced incident silences the probe's prediction of the same origin, port and cause; a certificate under
    7 days is not paged again as under 30; a prediction of an expired certificate silences the expiry alerts."""
    inhibit = [
        (sorted(rule["source_matchers"]), sorted(rule["target_matchers"]), rule["equal"])
        for rule in read_yaml(ALERTMANAGER)["inhibit_rules"]
    ]
    expires = 'alertname="CertwatchOriginCertificateExpiresSoon"'
    predicts = 'alertname="CertwatchProbePredictsFailure"'
    assert (
        ['alertname="CertwatchOriginCertificateFailing"'],
        [predicts],
        ["origin", "port", "cause"],
    ) in inhibit
    assert (
        [expires, 'severity="critical"'],
        [expires, 'severity="warning"'],
        ["origin", "port", "depth", "key_type"],
    ) in (inhibit)
    assert ([predicts, 'cause="expired"'], [expires], ["origin", "port"]) in inhibit


# ---- Kubernetes -----------------------------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    """``kubectl apply -k deploy/kubernetes`` applies every manifest of the directory."""
    kustomization = read_yaml(KUBE / "kustomization.yaml")
    files = sorted(path.name for path in KUBE.glob("*.yaml") if path.name != "kustomization.yaml")
    assert files == sorted(kustomization["resources"])


def test_configmap_is_the_container_config() -> None:
    """The ConfigMap carries deploy/certwatch.container.yaml unchanged, and it loads as the daemon loads it."""
    data = manifests()["ConfigMap/certwatch-config"]["data"]
    assert {"certwatch.yaml": CONTAINER_CONFIG.read_text()} == data
    assert container_config() == parse(yaml.safe_load(data["certwatch.yaml"]), "configmap")


def pod() -> dict[str, Any]:
    spec: dict[str, Any] = manifests()["Deployment/certwatch"]["spec"]["template"]["spec"]
    return spec


def container() -> dict[str, Any]:
    (only,) = pod()["containers"]
    result: dict[str, Any] = only
    return result


def test_deployment_runs_the_configmap_config() -> None:
    """The container's args are ``run --config`` of the ConfigMap key, mounted at the documented path."""
    volume, state = pod()["volumes"]
    mount, state_mount = container()["volumeMounts"]
    assert (state["name"], "/var/lib/certwatch") == (state_mount["name"], state_mount["mountPath"])
    kustomization = read_yaml(KUBE / "kustomization.yaml")
    command, config = run_args(container()["args"])
    assert ("run", CONFIG_PATH) == (command, config)
    assert ["run", "--config", str(CONFIG_PATH)] == container()["args"]
    assert (volume["name"], str(CONFIG_PATH.parent)) == (mount["name"], mount["mountPath"])
    assert "certwatch-config" == volume["configMap"]["name"]
    assert CONFIG_PATH.name in manifests()["ConfigMap/certwatch-config"]["data"]
    assert [container()["image"]] == [image["name"] for image in kustomization["images"]]


def test_deployment_ports_are_the_configured_ports() -> None:
    """containerPort entries are the configuration's syslog and HTTP ports."""
    ports = {(port["containerPort"], port["protocol"].lower()) for port in container()["ports"]}
    assert config_ports(container_config()) == ports


def named_port(name: str) -> int:
    (port,) = [port["containerPort"] for port in container()["ports"] if port["name"] == name]
    return int(port)


def test_probes_ask_healthz_and_readyz_on_the_http_port() -> None:
    """Liveness on /healthz, readiness and startup on /readyz (503 until every listener is bound)."""
    probes = {kind: container()[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe", "startupProbe")}
    paths = {kind: probe["path"] for kind, probe in probes.items()}
    assert {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/readyz"} == paths
    assert {split_address(container_config().http.address)[1]} == {named_port(p["port"]) for p in probes.values()}
    assert set(paths.values()) <= routes()


def test_pod_is_locked_down() -> None:
    """Non-root, read-only root file system, no capabilities, no privilege escalation, default seccomp; the grace
    period exceeds the SIGTERM drain."""
    security = container()["securityContext"]
    assert (True, "RuntimeDefault") == (
        pod()["securityContext"]["runAsNonRoot"],
        pod()["securityContext"]["seccompProfile"]["type"],
    )
    assert (True, False, ["ALL"]) == (
        security["readOnlyRootFilesystem"],
        security["allowPrivilegeEscalation"],
        security["capabilities"]["drop"],
    )
    assert pod()["terminationGracePeriodSeconds"] > container_config().daemon.shutdown_timeout
    assert 1 == manifests()["Deployment/certwatch"]["spec"]["replicas"]


def test_services_reach_the_container_ports() -> None:
    """Both Services select the pod and target named container ports with their protocol; the in-cluster one also
    serves HTTP; the external syslog one keeps the senders' addresses (allowed_senders)."""
    labels = manifests()["Deployment/certwatch"]["spec"]["template"]["metadata"]["labels"]
    container_ports = {(port["name"], port["protocol"]) for port in container()["ports"]}
    services = {name: obj for name, obj in manifests().items() if name.startswith("Service/")}
    for service in services.values():
        assert service["spec"]["selector"].items() <= labels.items()
        assert {(p["targetPort"], p["protocol"]) for p in service["spec"]["ports"]} <= container_ports
    in_cluster = {p["targetPort"] for p in services["Service/certwatch"]["spec"]["ports"]}
    external = services["Service/certwatch-syslog"]["spec"]
    assert {"syslog-udp", "syslog-tcp", "http"} == in_cluster
    assert ("LoadBalancer", "Local") == (external["type"], external["externalTrafficPolicy"])


def test_servicemonitor_scrapes_the_http_port_of_the_certwatch_service() -> None:
    """The ServiceMonitor selects the Service named like the rules' job and scrapes its "http" port on /metrics."""
    monitor = manifests()["ServiceMonitor/certwatch"]["spec"]
    service = manifests()[f"Service/{JOB}"]
    (endpoint,) = monitor["endpoints"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] in routes()


def test_prometheusrule_carries_the_rules_file() -> None:
    """The PrometheusRule's groups are deploy/prometheus/certwatch-rules.yml's, and the file is what
    deploy/kubernetes/prometheusrule.py writes (run it after regenerating the rules)."""
    spec = importlib.util.spec_from_file_location("prometheusrule", KUBE / "prometheusrule.py")
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    rule = manifests()["PrometheusRule/certwatch"]
    assert read_yaml(RULES)["groups"] == rule["spec"]["groups"]
    assert generator.render(RULES.read_text()) == (KUBE / "prometheusrule.yaml").read_text()


# ---- documentation ---------------------------------------------------------------------------------------------------


def test_deploy_files_name_real_metrics() -> None:
    """Every certwatch_* metric the deployment files and docs/deploy.md mention is one the daemon exports."""
    paths = [DOCS, UNIT, SYSCTL, DOCKERFILE, CONTAINER_CONFIG, COMPOSE, PROMETHEUS, ALERTMANAGER]
    paths += sorted(KUBE.glob("*.yaml"))
    mentioned = {name for path in paths for name in re.findall(r"(?<![\w:])certwatch_[a-z0-9_]+", path.read_text())}
    assert set() == mentioned - set(METRICS)


def test_docs_give_the_install_the_unit_expects() -> None:
    """docs/deploy.md installs where ExecStart looks and puts the configuration where --config points."""
    text = DOCS.read_text()
    steps = [
        f"python3 -m venv {INSTALL_DIR}",
        f"{INSTALL_DIR}/bin/pip install",
        str(CONFIG_PATH),
        "systemctl enable --now certwatch",
        "/etc/sysctl.d/99-certwatch.conf",
        "docker compose up",
        "kubectl apply -k deploy/kubernetes",
    ]
    assert [] == [step for step in steps if step not in text]


def test_the_container_keeps_its_incident_state_in_a_volume() -> None:
    """The image points state.path's default at a directory it creates for its user and declares a volume for;
    the compose stack and the Kubernetes pod mount one there."""
    final = dockerfile_stages()[-1]
    env = " ".join(instructions(final, "ENV"))
    assert "STATE_DIRECTORY=/var/lib/certwatch" in env
    assert ['["/var/lib/certwatch"]'] == instructions(final, "VOLUME")
    made = "install -d -o certwatch -g certwatch -m 0700 /var/lib/certwatch"
    assert any(made in run for run in instructions(final, "RUN"))
    assert "certwatch-state" == compose_mounts("certwatch")["/var/lib/certwatch"]
    assert "certwatch-state" in read_yaml(COMPOSE)["volumes"]
