"""Parsing ``traffic_server`` message bodies into events (pure)."""

from certwatch.parse.traffic_server import read_event

__all__ = ["read_event"]
