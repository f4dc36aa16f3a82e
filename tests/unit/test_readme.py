"""The README stays true: every metric and every option is documented there."""

from __future__ import annotations

from pathlib import Path

from test_config_file import option_paths

from certwatch.config import Config
from certwatch.telemetry import METRICS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_metric_is_in_the_metrics_table() -> None:
    """Each exported metric has a row (name, type, labels, meaning)."""
    assert [] == [name for name in METRICS if f"| `{name}` |" not in README]


def test_every_option_is_in_the_configuration_table() -> None:
    """Each leaf option of the configuration has a row."""
    assert [] == [p for p in option_paths(Config) if f"`{p}`" not in README]
