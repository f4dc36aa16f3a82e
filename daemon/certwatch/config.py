"""Configuration: a frozen pydantic tree loaded from YAML; every problem is reported at once, with its path.

Durations are seconds (``5``, ``0.5``) or a number with a unit: ``500ms``, ``5s``, ``15m``, ``2h``, ``1d``
(units may be combined: ``1h30m``). Addresses are ``host:port`` (``[::1]:5514`` for IPv6; port 0 picks a free
port). Environment variables ``CERTWATCH_<KEY>`` override the file, ``__`` separating levels
(``CERTWATCH_HTTP__ADDRESS=0.0.0.0:9514``); their values are YAML (``CERTWATCH_CLUSTERS='{lon: [a, b]}'``).
``config/certwatch.yaml`` documents every option.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from certwatch.correlate import EngineSettings
from certwatch.hints import DEFAULT_LANGUAGE, Language
from certwatch.probe.model import ProbeSettings, ProbeSettingsError
from certwatch.yamlfile import YamlError, load_yaml

_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> Any:
    """``5`` -> 5.0, ``"15m"`` -> 900.0, ``"1h30m"`` -> 5400.0; anything else is left for pydantic to reject."""
    if isinstance(value, bool):  # YAML yes/no/on/off: pydantic would take it as 1.0 or 0.0
        # ValueError, not TypeError: pydantic reports only the former as a problem of this field
        raise ValueError(f"not a duration: {value!r} (use seconds or a unit: 500ms, 5s, 15m, 2h, 1d)")  # noqa: TRY004
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return float(text)
        except ValueError:
            pass
        parts = _DURATION.findall(text)
        if parts and "".join(n + u for n, u in parts) == text.replace(" ", ""):
            return sum(float(n) * _UNITS[u] for n, u in parts)
        raise ValueError(f"not a duration: {value!r} (use seconds or a unit: 500ms, 5s, 15m, 2h, 1d)")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


def split_address(value: str) -> tuple[str, int]:
    """``"127.0.0.1:5514"`` -> ``("127.0.0.1", 5514)``; ``"[::1]:5514"`` -> ``("::1", 5514)``."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"not an address: {value!r} (use host:port, [ipv6]:port; port 0 picks a free one)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"not an address: {value!r} (write IPv6 addresses in brackets: [::1]:5514)")
    return host, int(port)


def _address(value: str) -> str:
    split_address(value)
    return value


Address = Annotated[str, AfterValidator(_address)]


def _readable_file(value: Path) -> Path:
    try:
        if not value.is_file():
            raise ValueError(f"{value} is not a file")
        with value.open("rb"):
            pass
    except OSError as exc:  # unreadable directory or file: a configuration problem, not a crash
        raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
    return value


ReadableFile = Annotated[Path, AfterValidator(_readable_file)]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_CERT_NAME: Final = re.compile(r"(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,252}[A-Za-z0-9])?")


def _sender_entry(value: str) -> str:
    """A CIDR or address (``10.10.20.11/32``, ``10.10.20.11``, ``2001:db8::/64``), or a certificate name (subject
    CN or SAN DNS name: ``expc01.example.com``)."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        if not _CERT_NAME.fullmatch(value) or value.replace(".", "").isdigit():
            raise ValueError(f"{value!r} is neither a CIDR nor a certificate name (CN or SAN DNS name)") from None
    return value


SenderEntry = Annotated[str, AfterValidator(_sender_entry)]


class NodeBinding(NamedTuple):
    """Who may speak for one node: sender networks and, over TLS, client certificate names (each may be empty)."""

    networks: tuple[Network, ...]
    names: frozenset[str]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputConfig(Frozen):
    """How messages are read."""

    max_message_bytes: int = Field(65536, ge=1024, le=16 * 1024 * 1024)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "Europe" is a directory of tzdata
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Brussels)") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class CorrelationConfig(Frozen):
    """Windows and bounds of the correlator."""

    join_window: Duration = 5.0
    # How long (receive time) a 502 with no known cause, or an ERROR without its WARNING, waits for the event that
    # may arrive after it (two log paths, UDP reordering); then the 502 counts as uncorrelated. Capped at
    # join_window; 0: arrival order.
    reorder_wait: Annotated[float, BeforeValidator(parse_duration), Field(ge=0)] = 2.0
    resolve_after: Duration = 900.0
    transaction_ttl: Duration = 300.0
    max_transactions: int = Field(100_000, ge=1)
    max_index_entries: int = Field(100_000, ge=1)
    max_findings: int = Field(10_000, ge=1)
    max_nodes: int = Field(1_024, ge=1)
    evidence_lines: int = Field(5, ge=0, le=100)

    def engine(self, max_series: int = 10_000) -> EngineSettings:
        """The correlator's settings; ``reorder_wait`` capped at the join window (a late event joins only inside it)."""
        values = self.model_dump()
        values["reorder_wait"] = min(self.reorder_wait, self.join_window)
        return EngineSettings(**values, max_series=max_series)


class _Listener(Frozen):
    address: Address
    # Who may send: CIDRs; empty means everyone. Refused senders are cut off and counted.
    allowed_senders: tuple[Network, ...] = ()

    @property
    def host_port(self) -> tuple[str, int]:
        return split_address(self.address)


class UdpListener(_Listener):
    protocol: Literal["udp"]
    # SO_RCVBUF wanted; SO_RCVBUFFORCE is used when permitted (root, CAP_NET_ADMIN), else the kernel caps it at
    # net.core.rmem_max. The effective size is logged at startup.
    receive_buffer_bytes: int = Field(8 * 1024 * 1024, ge=65536, le=1 << 30)


class TcpListener(_Listener):
    protocol: Literal["tcp"]
    max_connections: int = Field(1000, ge=1, le=100_000)
    idle_timeout: Duration = 300.0


class TlsListener(_Listener):
    protocol: Literal["tls"]
    cert_file: ReadableFile
    key_file: ReadableFile
    # When set, clients must present a certificate signed by one of these CAs (mutual TLS).
    client_ca_file: ReadableFile | None = None
    max_connections: int = Field(1000, ge=1, le=100_000)
    idle_timeout: Duration = 300.0
    handshake_timeout: Duration = 10.0


Listener = Annotated[UdpListener | TcpListener | TlsListener, Field(discriminator="protocol")]
DEFAULT_LISTENERS: Final = (
    UdpListener(protocol="udp", address="127.0.0.1:5514"),
    TcpListener(protocol="tcp", address="127.0.0.1:5514"),
)


class HttpConfig(Frozen):
    address: Address = "127.0.0.1:9514"
    # TLS, basic auth and headers of the HTTP side, in the Prometheus exporter-toolkit web configuration format
    # (certwatch.export.webconfig); re-read on SIGHUP.
    web_config_file: ReadableFile | None = None


class IngressConfig(Frozen):
    """Between the listeners and the engine."""

    # Batches of received messages waiting for the engine. Full: TCP/TLS stop reading, UDP drops (counted).
    queue_batches: int = Field(1024, ge=1, le=1_000_000)
    # How long a message waits for continuation lines from its sender before it is processed.
    continuation_wait: Duration = 0.2
    # UDP: how long the datagrams of a wake-up wait for more before they go to the engine as one batch (0: none).
    # Amortises the per-batch work over many datagrams at low and moderate rates; adds at most this to latency.
    udp_batch_wait: Annotated[float, BeforeValidator(parse_duration), Field(ge=0, le=1)] = 0.01
    # Per-sender state for continuation lines (UDP source addresses).
    max_senders: int = Field(10_000, ge=1)


class StateConfig(Frozen):
    """Incidents kept across restarts."""

    # The state file. Unset: $STATE_DIRECTORY/state.json (systemd's StateDirectory=), else
    # $XDG_STATE_HOME/certwatch/state.json, else ~/.local/state/certwatch/state.json. "" turns saving off.
    path: str | None = None
    # Written on change at most this often (and at shutdown).
    save_interval: Duration = 10.0


class IncidentsConfig(Frozen):
    # Resolved incidents stay visible in the API this long.
    keep_resolved: Duration = 3600.0


class NodesConfig(Frozen):
    # A configured node that sent nothing for this long is reported silent.
    silence_after: Duration = 600.0


class MetricsConfig(Frozen):
    # Label sets per metric; beyond it, samples go to one series whose labels are all "__overflow__".
    max_series: int = Field(10_000, ge=10, le=1_000_000)


class LoggingConfig(Frozen):
    level: Literal["debug", "info", "warning", "error"] = "info"


class HintsConfig(Frozen):
    # Language of the human text of incidents (summary and remediation in the API and the incident_* log lines):
    # en or zh-CN. Keys, causes, metric names and labels never change.
    language: Language = DEFAULT_LANGUAGE


_ORIGIN_NAME: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}[A-Za-z0-9_])?")


def _origin(value: str) -> str:
    """An FQDN or host name (as CUCM announces its nodes) or an IP address, without brackets or port."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _ORIGIN_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is neither a host name nor an IP address") from None
    return value


def _ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    return value


def _probe_problem(exc: Exception) -> str:
    """``certwatch.probe.run.load``'s message in this file's words (it names the command line's options)."""
    text = str(exc)
    for option in ("ca-file", "client-cert", "client-key"):
        text = text.replace(f"--{option}", option.replace("-", "_"))
    return text


def _probe_ca_file(value: Path | None) -> Path | None:
    """Certificates must be readable from it (the probe's own loader: OpenSSL and cryptography load here, only
    when a file is configured)."""
    if value is not None:
        from certwatch.probe.run import load as load_material  # noqa: PLC0415 - OpenSSL only when probes are on

        try:
            load_material(ProbeSettings(ca_file=value))
        except ProbeSettingsError as exc:
            raise ValueError(_probe_problem(exc)) from None
        except Exception as exc:  # noqa: BLE001 - whatever a library makes of a strange file: a problem, not a crash
            raise ValueError(f"cannot read it: {exc}") from None
    return value


class ProbeTarget(Frozen):
    """An origin the daemon probes: ``origin`` is sent as SNI and checked against the certificate; ``address``
    (optional) is where to connect instead of resolving ``origin``."""

    origin: Annotated[str, AfterValidator(_origin)]
    port: int = Field(ge=1, le=65535)
    address: Annotated[str, AfterValidator(_ip)] | None = None


class ProbesConfig(Frozen):
    """Active origin probes in the daemon (:mod:`certwatch.probe.service`): off while ``targets`` is empty and
    ``from_incidents`` false. Only these targets, and the origin and port of open incidents, are ever
    contacted."""

    # The Expressway-C trusted CA list (PEM); none: no CA is trusted (every origin fails verification).
    ca_file: Annotated[ReadableFile | None, AfterValidator(_probe_ca_file)] = None
    # The certificate (PEM, its chain may follow) and unencrypted key presented when an origin asks for one.
    client_cert: ReadableFile | None = None
    client_key: ReadableFile | None = Field(None, validate_default=True)
    # Each target is probed again this long (+-10 % at random) after its previous probe finished.
    interval: Annotated[float, BeforeValidator(parse_duration), Field(ge=1)] = 300.0
    # Per connection (TCP connect and TLS handshake together); a probe makes up to three connections.
    timeout: Annotated[float, BeforeValidator(parse_duration), Field(gt=0, le=300)] = 10.0
    # Probes in flight at most (one worker thread each); never two at once for one target.
    concurrency: int = Field(4, ge=1, le=64)
    # Also probe the origin and port of every open incident whose port is known (at most 256 such targets).
    from_incidents: bool = False
    targets: tuple[ProbeTarget, ...] = ()

    @field_validator("client_key")
    @classmethod
    def _client_pair(cls, key: Path | None, info: ValidationInfo) -> Path | None:
        if "client_cert" not in info.data:  # the certificate itself is unusable: reported there
            return key
        cert = info.data["client_cert"]
        if cert is None and key is None:
            return key
        if cert is None:
            raise ValueError("client_key needs client_cert (the certificate of that key)")
        if key is None:
            raise ValueError("client_cert needs client_key (its private key)")
        from certwatch.probe.run import load as load_material  # noqa: PLC0415 - OpenSSL only when probes are on

        try:
            load_material(ProbeSettings(client_cert=cert, client_key=key))
        except ProbeSettingsError as exc:
            raise ValueError(_probe_problem(exc)) from None
        except Exception as exc:  # noqa: BLE001 - whatever a library makes of a strange file: a problem, not a crash
            raise ValueError(f"cannot read it: {exc}") from None
        return key

    @field_validator("targets")
    @classmethod
    def _one_per_origin_and_port(cls, targets: tuple[ProbeTarget, ...]) -> tuple[ProbeTarget, ...]:
        seen: set[tuple[str, int]] = set()
        problems = []
        for i, target in enumerate(targets):
            key = (target.origin, target.port)
            if key in seen:
                problems.append(f"{i}: {target.origin} port {target.port} is listed twice")
            seen.add(key)
        if problems:
            raise ValueError("; ".join(problems))
        return targets

    @property
    def enabled(self) -> bool:
        return bool(self.targets) or self.from_incidents

    def settings(self) -> ProbeSettings:
        """What :func:`certwatch.probe.run.probe` takes."""
        return ProbeSettings(self.ca_file, self.client_cert, self.client_key, self.timeout)


class DaemonConfig(Frozen):
    """Lifecycle of ``certwatch run``."""

    # SIGTERM/SIGINT: stop accepting, process what was received, close; at most this long.
    shutdown_timeout: Duration = 10.0


class Config(Frozen):
    listeners: tuple[Listener, ...] = DEFAULT_LISTENERS
    http: HttpConfig = HttpConfig()
    input: InputConfig = InputConfig()
    correlation: CorrelationConfig = CorrelationConfig()
    clusters: dict[str, list[str]] = Field(default_factory=dict)
    # Which senders may speak for which node: node -> CIDRs and/or client certificate names (TLS). A message whose
    # host is a listed node from anywhere else is dropped and counted (reason="node_sender_mismatch").
    node_senders: dict[str, Annotated[list[SenderEntry], Field(min_length=1)]] = Field(default_factory=dict)
    ingress: IngressConfig = IngressConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    state: StateConfig = StateConfig()
    nodes: NodesConfig = NodesConfig()
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()
    daemon: DaemonConfig = DaemonConfig()
    hints: HintsConfig = HintsConfig()
    probes: ProbesConfig = ProbesConfig()

    @field_validator("clusters")
    @classmethod
    def _node_in_one_cluster(cls, clusters: dict[str, list[str]]) -> dict[str, list[str]]:
        # A field validator, not a model one, so it is reported together with the other fields' problems.
        seen: dict[str, str] = {}
        problems = []
        for cluster, nodes in clusters.items():
            for node in nodes:
                if node in seen and seen[node] != cluster:
                    problems.append(f"node {node!r} is in two clusters: {seen[node]!r} and {cluster!r}")
                seen.setdefault(node, cluster)
        if problems:
            raise ValueError("; ".join(problems))
        return clusters

    def engine(self) -> EngineSettings:
        """The correlator's settings: windows and bounds, and the metrics' label-set bound."""
        return self.correlation.engine(self.metrics.max_series)

    def node_bindings(self) -> dict[str, NodeBinding]:
        """``node_senders`` split into networks and certificate names, per node."""
        out = {}
        for node, entries in self.node_senders.items():
            networks, names = [], set()
            for entry in entries:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    names.add(entry.lower())
            out[node] = NodeBinding(tuple(networks), frozenset(names))
        return out

    def node_clusters(self) -> dict[str, str]:
        """``node -> cluster``; nodes not listed belong to ``default``."""
        return {node: cluster for cluster, nodes in self.clusters.items() for node in nodes}


class ConfigInvalidError(Exception):
    """Every problem found in a configuration, each as ``path: message``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _shared_sockets(listeners: Any) -> list[str]:
    """Two UDP listeners, or two stream ones (tcp, tls), on one address; checked on the raw document so it is
    reported together with every other problem. UDP and TCP may share a port."""
    if not isinstance(listeners, list | tuple):
        return []
    seen: dict[tuple[str, str, int], int] = {}
    problems = []
    for i, item in enumerate(listeners):
        if not isinstance(item, Mapping) or not isinstance(item.get("address"), str):
            continue
        try:
            host, port = split_address(item["address"])
        except ValueError:
            continue  # reported by the model
        key = ("udp" if item.get("protocol") == "udp" else "stream", host, port)
        if port != 0 and key in seen:
            problems.append(f"listeners.{i}: {item['address']} is already used by listeners.{seen[key]}")
        seen.setdefault(key, i)
    return problems


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{path}: {msg}")
    return out


def parse(data: Any, source: str = "<config>", overrides: dict[str, Any] | None = None) -> Config:
    """Validate a decoded YAML document; ``overrides`` (dotted paths) are applied first."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigInvalidError(source, ["(top level): expected a mapping of options"])
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigInvalidError(source, [f"{dotted}: {part} is not a mapping"])
        node[leaf] = value
    shared = _shared_sockets(data.get("listeners"))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigInvalidError(source, _problems(exc) + shared) from None
    if shared:
        raise ConfigInvalidError(source, shared)
    return config


_IPV6_ADDRESS: Final = re.compile(r"\[[0-9A-Fa-f:.]+\](?::\d+)?")


def env_overrides(environ: Mapping[str, str], prefix: str = "CERTWATCH_") -> dict[str, Any]:
    """``CERTWATCH_HTTP__ADDRESS=x`` -> ``{"http.address": "x"}``; values are YAML, IPv6 addresses kept whole."""
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(prefix) or len(name) == len(prefix):
            continue
        path = ".".join(part.lower() for part in name[len(prefix) :].split("__"))
        value: Any = raw
        if not _IPV6_ADDRESS.fullmatch(raw.strip()):
            try:
                value = load_yaml(raw)
            except YamlError:
                value = raw
            if value is None:
                value = raw
        out[path] = value
    return out


def load(path: Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate ``path`` (``None``: the embedded defaults)."""
    if path is None:
        return parse({}, "<defaults>", overrides)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigInvalidError(str(path), [f"cannot read: {exc}"]) from None
    try:
        data = load_yaml(text)
    except YamlError as exc:
        raise ConfigInvalidError(str(path), [str(exc)]) from None
    return parse(data, str(path), overrides)
