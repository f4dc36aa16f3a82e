"""The Prometheus rules: generated from the catalog and the metric contract, committed current, checked by promtool.

``tests/promtool/certwatch.test.yml`` is written by hand (nodes, ingestion, certwatch itself, recording rules);
``tests/promtool/incidents.test.yml`` is generated here from the catalog, like a golden file: regenerate it with
``.venv/bin/pytest tests/unit/test_rules.py --update-golden`` and review the diff.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from certwatch import rules
from certwatch.model import Cause
from certwatch.remediate import HINTS, remediation
from certwatch.telemetry import METRICS

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "deploy" / "prometheus" / "certwatch-rules.yml"
PROMTOOL_DIR = ROOT / "tests" / "promtool"
INCIDENT_TESTS = PROMTOOL_DIR / "incidents.test.yml"
README = ROOT / "README.md"
REGENERATE = "certwatch render-rules --output deploy/prometheus/certwatch-rules.yml"
INSTANCES = ("a:9514", "b:9514")


def render_rules(*argv: str | Path) -> int:
    """Parse ``argv`` with the ``render-rules`` arguments and run, as the CLI does."""
    parser = argparse.ArgumentParser(prog="certwatch render-rules")
    rules.add_arguments(parser)
    return rules.run(parser.parse_args([str(a) for a in argv]))


def promtool() -> str:
    path = shutil.which("promtool")
    assert path is not None, (
        "promtool not found: install Debian's prometheus package (`.ci/debs.sh prometheus`, or `make test`, "
        "which installs TEST_DEBS)"
    )
    return path


def alerting_rules(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for group in doc["groups"]:
        yield from (rule for rule in group["rules"] if "alert" in rule)


def committed_rules() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RULES_FILE.read_text())
    return data


# ---- the generated file -------------------------------------------------------------------------------------------


def test_committed_rules_file_is_current() -> None:
    """deploy/prometheus/certwatch-rules.yml is exactly what the renderer writes with its defaults."""
    assert rules.render() == RULES_FILE.read_text(), f"the rules file is stale: regenerate it with `{REGENERATE}`"


def test_render_is_deterministic_and_valid_yaml() -> None:
    """Two renderings are the same bytes and parse back into the document they were made from."""
    first = rules.render()
    assert first == rules.render()
    assert rules.document() == yaml.safe_load(first)


def test_every_metric_in_the_rules_exists() -> None:
    """Every certwatch metric an expression or an annotation query names is in telemetry.METRICS (recording-rule
    outputs excepted); the only other metric is Prometheus's ``up``."""
    doc = committed_rules()
    recorded = {rule["record"] for group in doc["groups"] for rule in group["rules"] if "record" in rule}
    texts = [rule["expr"] for group in doc["groups"] for rule in group["rules"]]
    texts += [text for rule in alerting_rules(doc) for text in rule["annotations"].values()]
    named = {name for text in texts for name in re.findall(r"\b(certwatch[a-z0-9_:]*|up)\{", text)}
    assert {"up"} == {name for name in named if not name.startswith("certwatch")}
    assert set() == {name for name in named if name.startswith("certwatch")} - set(METRICS) - recorded


def test_recording_rules_follow_the_naming_convention() -> None:
    """``certwatch:<metric>:<aggregation>``, the metric a real one (``_total`` dropped after a rate)."""
    doc = committed_rules()
    recorded = [rule["record"] for group in doc["groups"] for rule in group["rules"] if "record" in rule]
    assert recorded
    for name in recorded:
        level, metric, operation = name.split(":")
        assert "certwatch" == level
        assert metric in METRICS or f"{metric}_total" in METRICS, name
        assert operation in {"max", "max_rate5m"}, name


def test_every_cause_has_its_alerts_with_the_catalog_steps() -> None:
    """For every cause: one enforced (critical) and one at-risk (warning) rule whose description is the catalog's
    steps, numbered, and one cluster-wide rule carrying the catalog's cluster-wide step."""
    doc = committed_rules()
    by_cause: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rule in alerting_rules(doc):
        if "cause" in rule["labels"]:
            by_cause.setdefault((rule["alert"], rule["labels"]["cause"]), []).append(rule)
    expected_keys = {
        (name, str(cause)) for name in (rules.FAILING, rules.AT_RISK, rules.CLUSTER_WIDE) for cause in Cause
    }
    assert expected_keys == set(by_cause)
    for cause in Cause:
        for name, severity, enforced in ((rules.FAILING, "critical", True), (rules.AT_RISK, "warning", False)):
            steps = rules.template_steps(cause, enforced)
            [rule] = by_cause[(name, str(cause))]
            assert severity == rule["labels"]["severity"]
            assert f'cause="{cause}"' in rule["expr"]
            description = rule["annotations"]["description"].splitlines()
            assert [f"{n}. {step}" for n, step in enumerate(steps, 1)] == description[2:-1]
            assert f"Fix: {HINTS[cause].summary}." == description[1]
        [wide] = by_cause[(rules.CLUSTER_WIDE, str(cause))]
        assert "critical" == wide["labels"]["severity"]
        assert wide["annotations"]["description"].startswith("Cluster-wide: {{ $labels.origin }} fails on ")


@pytest.mark.parametrize("cause", list(Cause))
def test_alert_steps_are_the_catalogs(cause: Cause) -> None:
    """The alert's steps are remediation()'s own, verbatim, for an unknown depth (not a label); at-risk alerts
    carry no VerifyOriginServer workaround (verification is not enforced there)."""
    for origin, port in (("cucm-pub.example.com", 8443), ("10.10.10.11", None)):
        assert remediation(cause, origin, port) == rules.alert_steps(cause, origin, port)
        at_risk = rules.alert_steps(cause, origin, port, enforced=False)
        assert remediation(cause, origin, port, enforced=False) == at_risk
        assert not any("VerifyOriginServer" in step for step in at_risk)


def test_every_alert_is_labelled_and_annotated() -> None:
    """severity, summary, description and a runbook_url into an existing README section on every alert; a sensible
    ``for``; no alert keeps ``instance`` or ``job`` (every expression aggregates them away)."""
    readme_anchors = {github_anchor(line) for line in README.read_text().splitlines() if line.startswith("#")}
    for rule in alerting_rules(committed_rules()):
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert {"summary", "description", "runbook_url"} == set(rule["annotations"])
        base, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert rules.DEFAULT_RUNBOOK == base
        assert anchor in readme_anchors, anchor
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        expr = rule["expr"]
        assert re.match(r"\(?(max|min|count)( by \([a-z, ]+\))? ?\(", expr), expr
        assert "instance" not in rule["labels"]
    assert set(rules.ANCHORS) <= readme_anchors


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_incident_selectors_use_the_job() -> None:
    """--job goes into every selector: no selector of the default job is left."""
    text = rules.render(job="certwatch-noc")
    assert 'job="certwatch"' not in text
    assert text.count('job="certwatch-noc"') == rules.render().count('job="certwatch"')


# ---- render-rules -------------------------------------------------------------------------------------------------


def test_render_rules_writes_the_file(tmp_path: Path) -> None:
    """--output writes the rendered rules; the file is replaced whole, readable by Prometheus."""
    target = tmp_path / "certwatch-rules.yml"
    target.write_text("old")
    assert 0 == render_rules("--output", target)
    assert rules.render() == target.read_text()
    assert 0o644 == target.stat().st_mode & 0o777
    assert [target] == list(tmp_path.iterdir())


def test_render_rules_prints_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --output the rules go to standard output, with the job and runbook URL given."""
    assert 0 == render_rules("--job", "cw", "--runbook-url", "https://wiki.example.com/certwatch")
    out = capsys.readouterr().out
    assert rules.render("cw", "https://wiki.example.com/certwatch") == out
    assert "runbook_url: https://wiki.example.com/certwatch#causes" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--job", 'cert"watch'), "job 'cert\"watch': use letters, digits and _ . : / - only"),
        (("--runbook-url", "https://x.example/README.md#causes"), "runbook URL"),
        (("--runbook-url", ""), "runbook URL"),
    ],
)
def test_render_rules_rejects_unusable_options(
    argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job name that cannot be quoted as is, or a runbook URL with an anchor: exit 2, one line."""
    assert 2 == render_rules(*argv)
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"certwatch render-rules: error: {message}")


def test_render_rules_reports_an_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing directory: exit 2, one line naming the file."""
    target = tmp_path / "missing" / "rules.yml"
    assert 2 == render_rules("--output", target)
    expected = f"certwatch render-rules: error: {target}: No such file or directory"
    assert [expected] == capsys.readouterr().err.splitlines()


# ---- promtool -----------------------------------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    """promtool accepts the committed rules file (syntax, templates, no duplicate rules)."""
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES_FILE)], capture_output=True, text=True, check=False, timeout=120
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "SUCCESS: 50 rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    """Every alert fires, stays quiet and resolves as its promtool unit tests say, HA cases included."""
    files = sorted(str(path) for path in PROMTOOL_DIR.glob("*.test.yml"))
    assert [str(PROMTOOL_DIR / "certwatch.test.yml"), str(INCIDENT_TESTS)] == files
    result = subprocess.run(
        [promtool(), "test", "rules", *files], capture_output=True, text=True, check=False, timeout=300
    )
    assert 0 == result.returncode, result.stdout + result.stderr


def test_promtool_rejects_a_wrong_expectation(tmp_path: Path) -> None:
    """The promtool run can fail: a test expecting an alert that the rules do not raise fails."""
    test = {
        "rule_files": [str(RULES_FILE)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [],
                "alert_rule_test": [
                    {"eval_time": "1m", "alertname": "CertwatchConfigReloadFailed", "exp_alerts": [{"exp_labels": {}}]}
                ],
            }
        ],
    }
    path = tmp_path / "wrong.test.yml"
    path.write_text(yaml.safe_dump(test))
    result = subprocess.run(
        [promtool(), "test", "rules", str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    assert 1 == result.returncode
    assert "FAILED" in result.stdout + result.stderr


def seconds(duration: str) -> int:
    """A promtool eval_time such as ``90s``, ``7m`` or ``1h``, in seconds."""
    value, unit = re.fullmatch(r"(\d+)([smh])", duration).groups()  # type: ignore[union-attr]
    return int(value) * {"s": 1, "m": 60, "h": 3600}[unit]


def test_every_alert_fires_stays_quiet_and_resolves_in_the_promtool_tests() -> None:
    """For every alert rule (its name, and its cause for the incident alerts), some promtool test group expects no
    alert, then the alert, then no alert again; no alert is expected twice at one time (the HA groups feed two
    instances)."""
    keys = {(rule["alert"], rule["labels"].get("cause")) for rule in alerting_rules(committed_rules())}
    timelines: dict[tuple[str, str | None], list[str]] = {}
    for path in sorted(PROMTOOL_DIR.glob("*.test.yml")):
        for group in yaml.safe_load(path.read_text())["tests"]:
            cases = sorted(group.get("alert_rule_test", []), key=lambda case: seconds(case["eval_time"]))
            for key in keys:
                timeline = ""
                for case in (case for case in cases if case["alertname"] == key[0]):
                    hits = [tuple(sorted(a["exp_labels"].items())) for a in case["exp_alerts"]]
                    assert len(set(hits)) == len(hits), (path.name, group["name"], case["eval_time"])
                    timeline += "1" if any(("cause", key[1]) in hit or key[1] is None for hit in hits) else "0"
                timelines.setdefault(key, []).append(timeline)
    incomplete = [key for key in keys if not any(re.search("0+1+0", t) for t in timelines[key])]
    assert [] == sorted(incomplete, key=str)


# ---- the generated promtool tests of the incident alerts ----------------------------------------------------------

LONDON = "london"
PARIS = "paris"
ORIGIN = "cucm-pub.example.com"
AT_RISK_ORIGIN = "10.10.10.12"


def series(labels: dict[str, str], values: str, instances: tuple[str, ...] = INSTANCES) -> list[dict[str, str]]:
    out = []
    for instance in instances:
        pairs = {"job": "certwatch", "instance": instance, **labels}
        text = ",".join(f'{k}="{v}"' for k, v in pairs.items())
        out.append({"series": f"certwatch_incident_active{{{text}}}", "values": values})
    return out


def incident(cluster: str, node: str, origin: str, port: str, cause: Cause, enforced: bool) -> dict[str, str]:
    return {
        "cluster": cluster,
        "node": node,
        "origin": origin,
        "port": port,
        "cause": str(cause),
        "enforced": str(enforced).lower(),
    }


def expected_alert(cause: Cause, enforced: bool, cluster: str, node: str, origin: str, port: int | None) -> Any:
    labels = {"severity": "critical" if enforced else "warning", "cluster": cluster, "node": node, "origin": origin}
    if port is not None:
        labels["port"] = str(port)
    labels["cause"] = str(cause)
    texts = rules.incident_annotations(cause, enforced, cluster=cluster, node=node, origin=origin, port=port)
    return {"exp_labels": labels, "exp_annotations": texts}


def incident_group(cause: Cause) -> dict[str, Any]:
    """One cause's timeline, on two instances (a:9514, b:9514), one minute per step.

    * london/expc01 -> cucm-pub:8443, enforced, on both instances, 1m..6m (stale at 7m).
    * london/expc02 -> cucm-pub, port unknown (no Debug lines), enforced, on instance b only, 2m..6m.
    * paris/expc11 -> cucm-pub:8443, enforced, on both, 1m..6m: a second cluster, one peer, never cluster-wide.
    * london/expc01 -> 10.10.10.12:6972, at risk (permissive), on both, 1m..11m (an IP origin).
    """
    inputs = [
        *series(incident(LONDON, "expc01", ORIGIN, "8443", cause, True), "_ 1x5 stale"),
        *series(incident(LONDON, "expc02", ORIGIN, "", cause, True), "_ _ 1x4 stale", instances=INSTANCES[1:]),
        *series(incident(PARIS, "expc11", ORIGIN, "8443", cause, True), "_ 1x5 stale"),
        *series(incident(LONDON, "expc01", AT_RISK_ORIGIN, "6972", cause, False), "_ 1x10 stale"),
    ]
    expc01 = expected_alert(cause, True, LONDON, "expc01", ORIGIN, 8443)
    expc02 = expected_alert(cause, True, LONDON, "expc02", ORIGIN, None)
    expc11 = expected_alert(cause, True, PARIS, "expc11", ORIGIN, 8443)
    at_risk = expected_alert(cause, False, LONDON, "expc01", AT_RISK_ORIGIN, 6972)
    wide = {
        "exp_labels": {"severity": "critical", "cluster": LONDON, "origin": ORIGIN, "cause": str(cause)},
        "exp_annotations": rules.cluster_wide_annotations(
            cause, cluster=LONDON, origin=ORIGIN, nodes=["expc01", "expc02"]
        ),
    }
    cases = [
        (rules.FAILING, "0m", []),
        (rules.FAILING, "1m", []),  # pending: for 1m
        (rules.FAILING, "2m", [expc01, expc11]),  # one alert each, two instances
        (rules.FAILING, "3m", [expc01, expc02, expc11]),
        (rules.FAILING, "7m", []),  # resolved
        (rules.AT_RISK, "1m", []),
        (rules.AT_RISK, "5m", []),  # pending: for 5m
        (rules.AT_RISK, "6m", [at_risk]),
        (rules.AT_RISK, "12m", []),
        (rules.CLUSTER_WIDE, "1m", []),  # one peer of london
        (rules.CLUSTER_WIDE, "2m", []),  # two peers: pending
        (rules.CLUSTER_WIDE, "3m", [wide]),
        (rules.CLUSTER_WIDE, "7m", []),
    ]
    return {
        "name": f"incidents: {cause}",
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": alerts} for name, at, alerts in cases],
    }


def incident_tests() -> str:
    doc = {
        "rule_files": ["../../deploy/prometheus/certwatch-rules.yml"],
        "evaluation_interval": "1m",
        "tests": [incident_group(cause) for cause in Cause],
    }
    header = (
        "# promtool unit tests of the incident alerts, one group per cause. Generated by tests/unit/test_rules.py\n"
        "# from the remediation catalog: regenerate with `.venv/bin/pytest tests/unit/test_rules.py --update-golden`.\n"
    )
    return header + yaml.dump(doc, Dumper=rules.Dumper, sort_keys=False, allow_unicode=True, width=1 << 16)


def test_incident_promtool_tests_are_current(update_golden: bool) -> None:
    """tests/promtool/incidents.test.yml is what incident_tests() generates (``--update-golden`` rewrites it)."""
    text = incident_tests()
    if update_golden:
        INCIDENT_TESTS.write_text(text)
    assert text == INCIDENT_TESTS.read_text(), "regenerate: .venv/bin/pytest tests/unit/test_rules.py --update-golden"


def test_alert_text_for_concrete_labels_is_remediation() -> None:
    """For a cause without depth-dependent steps, the alert's numbered steps are remediation()'s, verbatim."""
    texts = rules.incident_annotations(
        Cause.NAME_MISMATCH, True, cluster=LONDON, node="expc01", origin="10.10.10.11", port=None
    )
    steps = remediation(Cause.NAME_MISMATCH, "10.10.10.11", None)
    assert [f"{n}. {s}" for n, s in enumerate(steps, 1)] == texts["description"].splitlines()[2:-1]
    wide = rules.cluster_wide_annotations(Cause.NAME_MISMATCH, cluster=LONDON, origin=ORIGIN, nodes=["a", "b"])
    inserted = remediation(Cause.NAME_MISMATCH, ORIGIN, None, cluster_wide_nodes=("a", "b"), cluster=LONDON)[1]
    assert inserted == wide["description"].splitlines()[0]
