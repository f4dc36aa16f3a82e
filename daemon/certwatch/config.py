"""Configuration: a frozen pydantic tree loaded from YAML; every problem is reported at once, with its path.

Durations are seconds (``5``, ``0.5``) or a number with a unit: ``500ms``, ``5s``, ``15m``, ``2h``, ``1d``
(units may be combined: ``1h30m``). ``config/certwatch.yaml`` documents every option.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from certwatch.correlate import EngineSettings

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
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Brussels)") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class CorrelationConfig(Frozen):
    """Windows and bounds of the correlator."""

    join_window: Duration = 5.0
    resolve_after: Duration = 900.0
    transaction_ttl: Duration = 300.0
    max_transactions: int = Field(100_000, ge=1)
    max_index_entries: int = Field(100_000, ge=1)
    max_findings: int = Field(10_000, ge=1)
    max_nodes: int = Field(1_024, ge=1)
    evidence_lines: int = Field(5, ge=0, le=100)

    def engine(self) -> EngineSettings:
        return EngineSettings(**self.model_dump())


class Config(Frozen):
    input: InputConfig = InputConfig()
    correlation: CorrelationConfig = CorrelationConfig()
    clusters: dict[str, list[str]] = Field(default_factory=dict)

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

    def node_clusters(self) -> dict[str, str]:
        """``node -> cluster``; nodes not listed belong to ``default``."""
        return {node: cluster for cluster, nodes in self.clusters.items() for node in nodes}


class ConfigInvalidError(Exception):
    """Every problem found in a configuration, each as ``path: message``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


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
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigInvalidError(source, _problems(exc)) from None


def load(path: Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate ``path`` (``None``: the embedded defaults)."""
    if path is None:
        return parse({}, "<defaults>", overrides)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigInvalidError(str(path), [f"cannot read: {exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigInvalidError(str(path), [f"{where}invalid YAML: {problem}"]) from None
    return parse(data, str(path), overrides)
