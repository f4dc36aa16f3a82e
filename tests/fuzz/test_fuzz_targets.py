"""The fuzz harnesses cannot rot: every target runs on every one of its seed inputs (no atheris needed), and the
runner reads libFuzzer's output into its summary."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from fuzz_targets import TARGETS, Input, Target, record, split


def _runner() -> object:
    """tests/fuzz/run.py, by its path (``run`` is too common a module name to import by)."""
    spec = importlib.util.spec_from_file_location("certwatch_fuzz_run", Path(__file__).with_name("run.py"))
    assert spec is not None
    assert spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclasses look it up there
    spec.loader.exec_module(module)
    return module


runner: Any = _runner()


@pytest.mark.parametrize("target", TARGETS.values(), ids=list(TARGETS))
def test_target_takes_its_seeds(target: Target) -> None:
    seeds = target.seed_inputs()
    assert seeds
    assert all(len(seed) <= target.max_len for seed in seeds)
    for seed in seeds:
        target.run(seed)


@pytest.mark.parametrize("target", TARGETS.values(), ids=list(TARGETS))
def test_target_takes_short_and_odd_inputs(target: Target) -> None:
    """What the fuzzer tries first: nothing, one byte, control bytes only, a record cut short."""
    for data in (b"", b"\x00", b"\x01", b"\xff" * 12, b"\x01\x00\x00\x00", b"\x00\x00\x00\xff\xff" + b"x" * 20):
        target.run(data)


def test_input_reads_past_its_end_as_zeros() -> None:
    inp = Input(record(7, b"abc") + b"\x01\x00")
    assert inp.records() == [(7, b"abc"), (1, b"")]
    assert (inp.byte(), inp.take(3), inp.rest()) == (0, b"", b"")
    assert split(b"abcdef", [2, 4, 9]) == [b"ab", b"cd", b"ef"]


def test_stretch_repeats_a_run_of_the_payload() -> None:
    assert Input(b"\x00").stretch(b"abc", 12) == b"abc"
    assert Input(b"\x01\x00\x01").stretch(b"abc", 12) == b"a" + b"b" * 9 + b"bc"
    assert Input(b"\x07\x00\x00").stretch(b"abc", 12) == b"ab" * 4 + b"abc"  # how & 2: a unit of 1 + 1 bytes


def test_dictionary_entries_are_escaped() -> None:
    assert runner.escape('a"b\\c\n\u00b2') == 'a\\"b\\\\c\\x0A\\xC2\\xB2'


def test_the_runner_reads_libfuzzer_output() -> None:
    log = """INFO: Seed: 1
#2      INITED cov: 120 ft: 130 corp: 40/4000b exec/s: 0 rss: 60Mb
#4096   pulse  cov: 125 ft: 140 corp: 44/4100b lim: 4096 exec/s: 2048 rss: 68Mb
#51234  DONE   cov: 133 ft: 150 corp: 46/4695b lim: 4096 exec/s: 50000 rss: 68Mb
stat::number_of_executed_units: 51234
stat::slowest_unit_time_sec:    1
stat::peak_rss_mb:              68
"""
    outcome = runner.read_log("t", log, 0)
    assert (outcome.executions, outcome.cov, outcome.ft, outcome.corpus) == (51234, 133, 150, "46/4695b")
    assert (outcome.slowest, outcome.peak_rss_mb, outcome.result) == (1.0, 68, "ok")
    crash = (
        log
        + """
 === Uncaught Python exception: ===
Traceback (most recent call last):
  File "x.py", line 1, in f
ValueError: invalid literal
==1== ERROR: libFuzzer: fuzz target exited
artifact_prefix='out/'; Test unit written to out/crash-abc
"""
    )
    outcome = runner.read_log("t", crash, 1)
    assert outcome.result == "crash"
    assert outcome.detail == ["Traceback (most recent call last):", '  File "x.py", line 1, in f',
                              "ValueError: invalid literal", "input: out/crash-abc"]  # fmt: skip
    hang = (
        log
        + """
 === Timeout: 11s elapsed, timeout=10s ===
  File "parse.py", line 122 in _error_response
ALARM: working on the last Unit for 11 seconds
Test unit written to out/timeout-abc
"""
    )
    outcome = runner.read_log("t", hang, 1)
    assert outcome.result == "hang"
    assert outcome.detail[-1] == "input: out/timeout-abc"
