"""YAML text -> Python values, with every way PyYAML can fail turned into one message (the configuration files).

``yaml.safe_load`` raises :class:`yaml.YAMLError` for malformed YAML, but its constructors let other exceptions out
for well-formed YAML with impossible values: ``0x_`` (``int("", 16)``: ValueError), ``2022-13-45`` (a date with
month 13: ValueError), ``9999-12-31 23:59:59 -01:00`` (OverflowError), and deep nesting (RecursionError). A file
with any of them is an invalid file, never a crash (found by ``make fuzz``).
"""

from __future__ import annotations

from typing import Any

import yaml


class YamlError(ValueError):
    """The one-line problem of a YAML text, with its line and column when PyYAML knows them."""


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``; raises :class:`YamlError` whatever went wrong."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise YamlError(f"{where}invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise YamlError("invalid YAML: nested too deeply") from None
    except (ValueError, OverflowError, TypeError) as exc:
        raise YamlError(f"invalid YAML value: {exc}") from None
