"""Human text in English and Simplified Chinese, one module per language: the remediation catalog, the fixed strings
of ``analyze``'s text report, the texts of the alert rules and those of ``probe``. Pure data plus the language
setting.

Only human text changes with the language: JSON keys, cause names, metric names and labels never do. Cisco menu
paths and CLI commands stay as the English Expressway and CUCM interfaces print them, in every language.

Every text is a :meth:`str.format` template; each language has exactly the same keys, and each template the same
``{placeholders}`` as its English one (a test checks both).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

from certwatch.model import Cause

Language = Literal["en", "zh-CN"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
DEFAULT_LANGUAGE: Final[Language] = "en"

# LANG / LC_ALL values that ask for Simplified Chinese: zh_CN.UTF-8, zh_CN, zh-Hans, zh_Hans_CN ...
_SIMPLIFIED_CHINESE: Final = re.compile(r"zh[_-](?:cn|hans)(?![a-z])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Hint:
    """``summary`` is one line for tables and alert titles; ``steps`` are what to do, in order."""

    summary: str
    steps: tuple[str, ...]
    expressway_side: bool = True  # Expressway-C's own verification fails, so the workaround applies


@dataclass(frozen=True, slots=True)
class Texts:
    """All the human text of one language.

    ``hints``: the catalog, per cause. ``remediation``: the pieces :func:`certwatch.remediate.remediation` puts
    into the steps (port, depth and address wording, the cluster-wide step, the last-resort workaround).
    ``report``: the text report of ``analyze``. ``rules``: the annotations of the Prometheus rules. ``probe``: the
    probe's own hints (the X14.2 trap step, connection and TLS problems) and the words of its text report.
    """

    language: Language
    hints: Mapping[Cause, Hint]
    remediation: Mapping[str, str]
    report: Mapping[str, str]
    rules: Mapping[str, str]
    probe: Mapping[str, str]


def texts(language: Language = DEFAULT_LANGUAGE) -> Texts:
    """The texts of ``language``.

    Raises:
        ValueError: ``language`` is not one of :data:`LANGUAGES`.
    """
    from certwatch.hints import en, zh_cn  # noqa: PLC0415 - the language modules import Hint and Texts from here

    if language == "en":
        return en.TEXTS
    if language == "zh-CN":
        return zh_cn.TEXTS
    raise ValueError(f"unknown language {language!r} (use one of {', '.join(LANGUAGES)})")


def language_from_environ(environ: Mapping[str, str]) -> Language:
    """``zh-CN`` when the locale (``LC_ALL``, else ``LANG``, as POSIX orders them) names ``zh_CN`` or
    ``zh-Hans``; otherwise ``en``."""
    for name in ("LC_ALL", "LANG"):
        value = environ.get(name)
        if value:
            return "zh-CN" if _SIMPLIFIED_CHINESE.match(value) else "en"
    return DEFAULT_LANGUAGE
