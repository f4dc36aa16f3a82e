"""Correlation of ``traffic_server`` events into findings (pure)."""

from certwatch.correlate.correlator import (
    DEFAULT_CLUSTER,
    ChangeListener,
    Correlator,
    EngineSettings,
    EngineStats,
    Finding,
    FindingKey,
    NodeInfo,
)
from certwatch.correlate.states import Change, FindingState

__all__ = [
    "DEFAULT_CLUSTER",
    "Change",
    "ChangeListener",
    "Correlator",
    "EngineSettings",
    "EngineStats",
    "Finding",
    "FindingKey",
    "FindingState",
    "NodeInfo",
]
