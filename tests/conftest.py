"""Shared test configuration: the golden-file switch and the Hypothesis profile."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from certwatch.hints import language_from_environ

# CI runs on slow shared machines: no per-example deadline, a fixed example budget.
settings.register_profile(
    "ci", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the expected golden files from the current output (review the diff like code)",
    )


@pytest.fixture(autouse=True, scope="session")
def _state_in_a_temporary_directory_for_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Daemons started by tests keep their incident state in a directory of their own, never in the user's
    ~/.local/state (where ``certwatch run`` outside the tests keeps it): session-wide, so that daemons started by
    module-scoped fixtures, which are set up before any function-scoped fixture, are covered too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("STATE_DIRECTORY", raising=False)
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("session-state")))
        yield


@pytest.fixture(autouse=True)
def _state_in_a_temporary_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """And one of its own for each test, so no test restores another's incidents."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def _english_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """``analyze`` speaks the locale's language (LC_ALL, LANG) unless given --lang: tests expect English unless they
    ask for another language, whatever the locale of the machine running them."""
    for name in ("LC_ALL", "LANG"):
        if language_from_environ({name: os.environ.get(name, "")}) != "en":
            monkeypatch.setenv(name, "C.UTF-8")


@pytest.fixture(name="update_golden")
def fixture_update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
