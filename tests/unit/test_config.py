"""Configuration: durations, strict keys, every problem at once with its dotted path, overrides and defaults."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from certwatch.config import Config, ConfigInvalidError, load, parse, parse_duration
from certwatch.correlate import EngineSettings

DURATION_HELP = "(use seconds or a unit: 500ms, 5s, 15m, 2h, 1d)"


@pytest.fixture(name="config_file")
def fixture_config_file(tmp_path):
    """A path for a YAML file in the test's own directory."""
    return tmp_path / "certwatch.yaml"


def problems_of(data, overrides=None) -> list[str]:
    with pytest.raises(ConfigInvalidError) as info:
        parse(data, overrides=overrides)
    return info.value.problems


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (5, 5.0),
        (0.5, 0.5),
        ("5", 5.0),
        ("0.5", 0.5),
        ("500ms", 0.5),
        ("5s", 5.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("1.5h", 5400.0),
        ("1H30M", 5400.0),
        (" 5s ", 5.0),
    ],
)
def test_durations(value, seconds):
    """
    A duration is seconds (a number) or numbers with units, which may be combined.
    """
    assert seconds == parse({"correlation": {"join_window": value}}).correlation.join_window


@pytest.mark.parametrize("value", ["5x", "", "m", "1h30", "5ms5", "-1s", "five seconds", "1h-30m"])
def test_invalid_duration_text(value):
    """
    Text that is not a duration is reported with its dotted path and a hint on the accepted forms.
    """
    assert [f"correlation.join_window: not a duration: {value!r} {DURATION_HELP}"] == problems_of(
        {"correlation": {"join_window": value}}
    )


@pytest.mark.parametrize("value", [True, False])
def test_boolean_is_not_a_duration(value):
    """
    YAML `yes`/`no` are not taken for 1 or 0 seconds.
    """
    assert [f"correlation.join_window: not a duration: {value!r} {DURATION_HELP}"] == problems_of(
        {"correlation": {"join_window": value}}
    )


@pytest.mark.parametrize("value", [0, "0", "0s", -5, "-5"])
def test_duration_must_be_positive(value):
    """
    Zero and negative durations are rejected.
    """
    assert ["correlation.resolve_after: Input should be greater than 0"] == problems_of(
        {"correlation": {"resolve_after": value}}
    )


def test_parse_duration_leaves_other_types_to_pydantic():
    """
    `parse_duration` converts numbers and text only; other values pass through, to be rejected by pydantic.
    """
    assert [None, [1]] == [parse_duration(None), parse_duration([1])]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"bogus": 1}, "bogus: Extra inputs are not permitted"),
        ({"input": {"time_zone": "UTC"}}, "input.time_zone: Extra inputs are not permitted"),
        ({"correlation": {"window": "5s"}}, "correlation.window: Extra inputs are not permitted"),
    ],
)
def test_unknown_keys_are_rejected(data, problem):
    """
    A misspelt option is an error at its dotted path, not silently ignored.
    """
    assert [problem] == problems_of(data)


def test_every_problem_is_reported_at_once():
    """
    All problems, in every section and including a node in two clusters, come in one error.
    """
    data = {
        "input": {"timezone": "Mars/Olympus_Mons", "max_message_bytes": 10},
        "correlation": {"join_window": "soon", "resolve_after": -1, "bogus": 1},
        "clusters": {"c1": ["expc01", "expc02"], "c2": ["expc02"]},
        "extra": True,
    }

    assert [
        "input.max_message_bytes: Input should be greater than or equal to 1024",
        "input.timezone: unknown time zone 'Mars/Olympus_Mons' (use an IANA name such as Europe/Brussels)",
        f"correlation.join_window: not a duration: 'soon' {DURATION_HELP}",
        "correlation.resolve_after: Input should be greater than 0",
        "correlation.bogus: Extra inputs are not permitted",
        "clusters: node 'expc02' is in two clusters: 'c1' and 'c2'",
        "extra: Extra inputs are not permitted",
    ] == problems_of(data)


def test_node_in_two_clusters():
    """
    A node may belong to one cluster only; every such node is named.
    """
    data = {"clusters": {"c1": ["expc01", "expc02"], "c2": ["expc02"], "c3": ["expc01"]}}

    assert [
        "clusters: node 'expc02' is in two clusters: 'c1' and 'c2'; node 'expc01' is in two clusters: 'c1' and 'c3'"
    ] == problems_of(data)


def test_clusters_map_nodes():
    """
    `node_clusters()` maps each listed node to its cluster.
    """
    config = parse({"clusters": {"c1": ["expc01", "expc02"], "c2": ["expc11"]}})

    assert {"expc01": "c1", "expc02": "c1", "expc11": "c2"} == config.node_clusters()


def test_cluster_members_must_be_names():
    """
    A non-text node is reported at its index inside the cluster.
    """
    assert ["clusters.c1.1: Input should be a valid string"] == problems_of({"clusters": {"c1": ["expc01", 7]}})


@pytest.mark.parametrize("zone", ["Europe/Brussels", "UTC", "America/New_York"])
def test_known_time_zone(zone):
    """
    An IANA zone name is accepted and available as a `ZoneInfo`.
    """
    assert ZoneInfo(zone) == parse({"input": {"timezone": zone}}).input.zone


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe", "europe/brussels", "", "/etc/passwd", "CEST+2"])
def test_unknown_time_zone(zone):
    """
    A zone that does not exist is a problem at `input.timezone`.
    """
    assert [f"input.timezone: unknown time zone {zone!r} (use an IANA name such as Europe/Brussels)"] == problems_of(
        {"input": {"timezone": zone}}
    )


def test_top_level_must_be_a_mapping():
    """
    A YAML document that is not a mapping is one top-level problem.
    """
    assert ["(top level): expected a mapping of options"] == problems_of(["input", "correlation"])


def test_load_none_gives_defaults():
    """
    With no file, the embedded defaults apply; they equal the engine's own defaults.
    """
    config = load(None)

    assert (Config(), EngineSettings(), "UTC", {}) == (
        config,
        config.correlation.engine(),
        config.input.timezone,
        config.clusters,
    )


def test_empty_file_gives_defaults(config_file):
    """
    An empty YAML file is the defaults.
    """
    config_file.write_text("")

    assert Config() == load(config_file)


def test_file_values(config_file):
    """
    Values from the file are used, durations converted to seconds.
    """
    config_file.write_text(
        "input:\n  timezone: Europe/Brussels\ncorrelation:\n  join_window: 500ms\n  resolve_after: 1h30m\n"
        "clusters:\n  emea: [expc01, expc02]\n"
    )

    config = load(config_file)

    assert ("Europe/Brussels", 0.5, 5400.0, {"emea": ["expc01", "expc02"]}) == (
        config.input.timezone,
        config.correlation.join_window,
        config.correlation.resolve_after,
        config.clusters,
    )


def test_overrides_without_file():
    """
    Dotted overrides apply on top of the defaults.
    """
    config = load(None, {"correlation.join_window": "10s", "input.timezone": "Europe/Brussels"})

    assert (10.0, "Europe/Brussels") == (config.correlation.join_window, config.input.timezone)


def test_overrides_win_over_file(config_file):
    """
    An override replaces the file's value and leaves its siblings alone.
    """
    config_file.write_text("correlation:\n  join_window: 5s\n  resolve_after: 15m\n")

    config = load(config_file, {"correlation.join_window": 2.5})

    assert (2.5, 900.0) == (config.correlation.join_window, config.correlation.resolve_after)


def test_invalid_override_is_reported_like_file_values():
    """
    An override is validated like the file, at its dotted path.
    """
    assert [f"correlation.join_window: not a duration: 'x' {DURATION_HELP}"] == problems_of(
        {}, {"correlation.join_window": "x"}
    )


def test_override_through_a_non_mapping():
    """
    An override below a value that is not a mapping is a problem, not a crash.
    """
    assert ["input.timezone: input is not a mapping"] == problems_of({"input": 5}, {"input.timezone": "UTC"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("correlation:\n  join_window: 5s\n bad: [\n", "line 3, column 2: invalid YAML: expected <block end>"),
        ("correlation:\n  join_window: [1, 2\n", "line 3, column 1: invalid YAML: expected ',' or ']'"),
        ("input: timezone: UTC\n", "line 1, column 16: invalid YAML: mapping values are not allowed here"),
    ],
)
def test_invalid_yaml_names_line_and_column(config_file, text, problem):
    """
    A YAML syntax error is one problem naming the line and column (1-based) where it was found.
    """
    config_file.write_text(text)

    with pytest.raises(ConfigInvalidError) as info:
        load(config_file)

    assert (str(config_file), [problem]) == (info.value.source, [p[: len(problem)] for p in info.value.problems])


def test_validation_problems_name_the_file(config_file):
    """
    The error names the file; its message lists every problem.
    """
    config_file.write_text("correlation:\n  join_window: soon\nbogus: 1\n")

    with pytest.raises(ConfigInvalidError) as info:
        load(config_file)

    assert (
        f"{config_file}: correlation.join_window: not a duration: 'soon' {DURATION_HELP}; "
        "bogus: Extra inputs are not permitted"
    ) == str(info.value)


def test_missing_file(tmp_path):
    """
    A file that cannot be read is one problem, not an `OSError`.
    """
    missing = tmp_path / "missing.yaml"

    with pytest.raises(ConfigInvalidError) as info:
        load(missing)

    assert [f"cannot read: [Errno 2] No such file or directory: '{missing}'"] == info.value.problems


def test_config_is_frozen():
    """
    A loaded configuration cannot be changed in place (reloads swap it whole).
    """
    config = load(None)

    with pytest.raises(ValueError, match="frozen"):
        config.correlation.join_window = 1.0  # type: ignore[misc]


def test_an_unreadable_tls_file_is_a_problem_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A certificate the daemon's user may not read (EACCES) is reported with its path, like any bad option.

    Root reads every file, so the kernel's refusal is simulated: this is the one thing that cannot run here.
    """
    cert = tmp_path / "tls.crt"
    cert.write_text("x")

    def refuse(self: Path) -> bool:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", refuse)
    listener = {"protocol": "tls", "address": "127.0.0.1:0", "cert_file": str(cert), "key_file": str(cert)}
    with pytest.raises(ConfigInvalidError) as caught:
        parse({"listeners": [listener]})
    assert [
        f"listeners.0.tls.cert_file: cannot read {cert}: Permission denied",
        f"listeners.0.tls.key_file: cannot read {cert}: Permission denied",
    ] == caught.value.problems
