"""Correlation of ``traffic_server`` events into findings (pure)."""

from certwatch.correlate.correlator import ChangeListener, Correlator
from certwatch.correlate.records import (
    DEFAULT_CLUSTER,
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
