"""The Prometheus rules: generated from the catalog and the metric contract, committed current, checked by promtool.

``tests/promtool/certwatch.test.yml`` is written by hand (nodes, ingestion, certwatch itself, recording rules);
``tests/promtool/incidents.test.yml`` and ``probes.test.yml`` (and their ``.zh-CN`` twins, the same tests of the
Simplified Chinese rules file) are generated here from the catalog, like golden files: regenerate them with
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
from certwatch.hints import LANGUAGES, Language, texts
from certwatch.model import Cause
from certwatch.remediate import HINTS, remediation, summary
from certwatch.telemetry import METRICS

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "deploy" / "prometheus" / "certwatch-rules.yml"
RULES_FILES: dict[Language, Path] = {"en": RULES_FILE, "zh-CN": RULES_FILE.with_name("certwatch-rules.zh-CN.yml")}
PROMTOOL_DIR = ROOT / "tests" / "promtool"
INCIDENT_TESTS = PROMTOOL_DIR / "incidents.test.yml"
INCIDENT_TESTS_BY_LANG: dict[Language, Path] = {
    "en": INCIDENT_TESTS,
    "zh-CN": PROMTOOL_DIR / "incidents.zh-CN.test.yml",
}
PROBE_TESTS_BY_LANG: dict[Language, Path] = {
    "en": PROMTOOL_DIR / "probes.test.yml",
    "zh-CN": PROMTOOL_DIR / "probes.zh-CN.test.yml",
}
README = ROOT / "README.md"
REGENERATE = "certwatch render-rules --output deploy/prometheus/certwatch-rules.yml"
REGENERATE_BY_LANG: dict[Language, str] = {
    "en": REGENERATE,
    "zh-CN": "certwatch render-rules --lang zh-CN --output deploy/prometheus/certwatch-rules.zh-CN.yml",
}
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


def committed_rules(lang: Language = "en") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RULES_FILES[lang].read_text(encoding="utf-8"))
    return data


# ---- the generated file -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_committed_rules_file_is_current(lang: Language) -> None:
    """deploy/prometheus/certwatch-rules.yml is exactly what the renderer writes with its defaults, and
    certwatch-rules.zh-CN.yml what it writes with --lang zh-CN."""
    committed = RULES_FILES[lang].read_text(encoding="utf-8")
    assert rules.render(lang=lang) == committed, f"stale: regenerate it with `{REGENERATE_BY_LANG[lang]}`"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_render_is_deterministic_and_valid_yaml(lang: Language) -> None:
    """Two renderings are the same bytes and parse back into the document they were made from."""
    first = rules.render(lang=lang)
    assert first == rules.render(lang=lang)
    assert rules.document(lang=lang) == yaml.safe_load(first)


def test_languages_differ_only_in_the_annotations() -> None:
    """Every language has the same groups, rules, names, expressions, durations, labels and runbook links, in the
    same order; only the summary and description differ (and the file's header comment)."""
    english = rules.document()

    def skeleton(doc: dict[str, Any]) -> Any:
        return [
            [{k: v for k, v in rule.items() if k != "annotations"} for rule in group["rules"]]
            for group in doc["groups"]
        ]

    for lang in LANGUAGES:
        doc = rules.document(lang=lang)
        assert skeleton(english) == skeleton(doc)
        for a, b in zip(alerting_rules(english), alerting_rules(doc), strict=True):
            assert list(a["annotations"]) == list(b["annotations"])
            assert a["annotations"]["runbook_url"] == b["annotations"]["runbook_url"]
            assert (a["annotations"]["summary"] == b["annotations"]["summary"]) == (lang == "en")
            assert (a["annotations"]["description"] == b["annotations"]["description"]) == (lang == "en")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_metric_in_the_rules_exists(lang: Language) -> None:
    """Every certwatch metric an expression or an annotation query names is in telemetry.METRICS (recording-rule
    outputs excepted); the only other metric is Prometheus's ``up``."""
    doc = committed_rules(lang)
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


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_cause_has_its_alerts_with_the_catalog_steps(lang: Language) -> None:
    """For every cause: one enforced (critical) and one at-risk (warning) rule whose description is the catalog's
    steps, numbered, and one cluster-wide rule carrying the catalog's cluster-wide step."""
    doc = committed_rules(lang)
    by_cause: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rule in alerting_rules(doc):
        if "cause" in rule["labels"] and rule["alert"] != rules.PREDICTS:  # test_probe_alerts: the predictions
            by_cause.setdefault((rule["alert"], rule["labels"]["cause"]), []).append(rule)
    expected_keys = {
        (name, str(cause)) for name in (rules.FAILING, rules.AT_RISK, rules.CLUSTER_WIDE) for cause in Cause
    }
    assert expected_keys == set(by_cause)
    for cause in Cause:
        for name, severity, enforced in ((rules.FAILING, "critical", True), (rules.AT_RISK, "warning", False)):
            steps = rules.template_steps(cause, enforced, lang)
            [rule] = by_cause[(name, str(cause))]
            assert severity == rule["labels"]["severity"]
            assert f'cause="{cause}"' in rule["expr"]
            description = rule["annotations"]["description"].splitlines()
            assert [f"{n}. {step}" for n, step in enumerate(steps, 1)] == description[2:-1]
            assert texts(lang).rules["incident.fix"].format(fix=summary(cause, lang)) == description[1]
            if lang == "en":
                assert f"Fix: {HINTS[cause].summary}." == description[1]
        [wide] = by_cause[(rules.CLUSTER_WIDE, str(cause))]
        assert "critical" == wide["labels"]["severity"]
        lead = texts(lang).remediation["cluster_wide"].split("{origin}")[0] + rules.ORIGIN
        assert wide["annotations"]["description"].startswith(lead)
        if lang == "en":
            assert wide["annotations"]["description"].startswith("Cluster-wide: {{ $labels.origin }} fails on ")


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("cause", list(Cause))
def test_alert_steps_are_the_catalogs(cause: Cause, lang: Language) -> None:
    """The alert's steps are remediation()'s own, verbatim, for an unknown depth (not a label); at-risk alerts
    carry no VerifyOriginServer workaround (verification is not enforced there)."""
    for origin, port in (("cucm-pub.example.com", 8443), ("10.10.10.11", None)):
        assert remediation(cause, origin, port, lang=lang) == rules.alert_steps(cause, origin, port, lang=lang)
        at_risk = rules.alert_steps(cause, origin, port, enforced=False, lang=lang)
        assert remediation(cause, origin, port, enforced=False, lang=lang) == at_risk
        assert not any("VerifyOriginServer" in step for step in at_risk)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_alert_is_labelled_and_annotated(lang: Language) -> None:
    """severity, summary, description and a runbook_url into an existing README section on every alert; a sensible
    ``for``; no alert keeps ``instance`` or ``job`` (every expression aggregates them away)."""
    readme_anchors = {github_anchor(line) for line in README.read_text().splitlines() if line.startswith("#")}
    for rule in alerting_rules(committed_rules(lang)):
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert {"summary", "description", "runbook_url"} == set(rule["annotations"])
        base, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert rules.DEFAULT_RUNBOOK == base
        assert anchor in readme_anchors, anchor
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        expr = rule["expr"]
        assert re.match(r"\(?(max|min|count)( by \([a-z_, ]+\))? ?\(", expr), expr
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


def test_render_rules_writes_the_chinese_file(tmp_path: Path) -> None:
    """--lang zh-CN writes the rules with Simplified Chinese annotations: the committed certwatch-rules.zh-CN.yml."""
    target = tmp_path / "certwatch-rules.zh-CN.yml"
    assert 0 == render_rules("--lang", "zh-CN", "--output", target)
    assert RULES_FILES["zh-CN"].read_text(encoding="utf-8") == target.read_text(encoding="utf-8")


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


@pytest.mark.parametrize("lang", LANGUAGES)
def test_promtool_check_rules(lang: Language) -> None:
    """promtool accepts the committed rules files (syntax, templates, no duplicate rules)."""
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES_FILES[lang])], capture_output=True, text=True, check=False, timeout=120
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "SUCCESS: 64 rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    """Every alert fires, stays quiet and resolves as its promtool unit tests say, HA cases included."""
    files = sorted(str(path) for path in PROMTOOL_DIR.glob("*.test.yml"))
    expected = [PROMTOOL_DIR / "certwatch.test.yml", *INCIDENT_TESTS_BY_LANG.values(), *PROBE_TESTS_BY_LANG.values()]
    assert sorted(str(path) for path in expected) == files
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


def expected_alert(
    cause: Cause, enforced: bool, cluster: str, node: str, origin: str, port: int | None, lang: Language = "en"
) -> Any:
    labels = {"severity": "critical" if enforced else "warning", "cluster": cluster, "node": node, "origin": origin}
    if port is not None:
        labels["port"] = str(port)
    labels["cause"] = str(cause)
    annotations = rules.incident_annotations(
        cause, enforced, cluster=cluster, node=node, origin=origin, port=port, lang=lang
    )
    return {"exp_labels": labels, "exp_annotations": annotations}


def incident_group(cause: Cause, lang: Language = "en") -> dict[str, Any]:
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
    expc01 = expected_alert(cause, True, LONDON, "expc01", ORIGIN, 8443, lang)
    expc02 = expected_alert(cause, True, LONDON, "expc02", ORIGIN, None, lang)
    expc11 = expected_alert(cause, True, PARIS, "expc11", ORIGIN, 8443, lang)
    at_risk = expected_alert(cause, False, LONDON, "expc01", AT_RISK_ORIGIN, 6972, lang)
    wide = {
        "exp_labels": {"severity": "critical", "cluster": LONDON, "origin": ORIGIN, "cause": str(cause)},
        "exp_annotations": rules.cluster_wide_annotations(
            cause, cluster=LONDON, origin=ORIGIN, nodes=["expc01", "expc02"], lang=lang
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


def incident_tests(lang: Language = "en") -> str:
    doc = {
        "rule_files": [f"../../deploy/prometheus/{RULES_FILES[lang].name}"],
        "evaluation_interval": "1m",
        "tests": [incident_group(cause, lang) for cause in Cause],
    }
    header = (
        "# promtool unit tests of the incident alerts, one group per cause. Generated by tests/unit/test_rules.py\n"
        "# from the remediation catalog: regenerate with `.venv/bin/pytest tests/unit/test_rules.py --update-golden`.\n"
    )
    if lang != "en":
        header = f"# The same tests of {RULES_FILES[lang].name}, the rules with {lang} annotations.\n" + header
    return header + yaml.dump(doc, Dumper=rules.Dumper, sort_keys=False, allow_unicode=True, width=1 << 16)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_incident_promtool_tests_are_current(lang: Language, update_golden: bool) -> None:
    """tests/promtool/incidents.test.yml (incidents.zh-CN.test.yml for the Chinese rules) is what incident_tests()
    generates (``--update-golden`` rewrites it)."""
    text = incident_tests(lang)
    path = INCIDENT_TESTS_BY_LANG[lang]
    if update_golden:
        path.write_text(text, encoding="utf-8")
    stale = "regenerate: .venv/bin/pytest tests/unit/test_rules.py --update-golden"
    assert text == path.read_text(encoding="utf-8"), stale


@pytest.mark.parametrize("lang", LANGUAGES)
def test_alert_text_for_concrete_labels_is_remediation(lang: Language) -> None:
    """For a cause without depth-dependent steps, the alert's numbered steps are remediation()'s, verbatim."""
    annotations = rules.incident_annotations(
        Cause.NAME_MISMATCH, True, cluster=LONDON, node="expc01", origin="10.10.10.11", port=None, lang=lang
    )
    steps = remediation(Cause.NAME_MISMATCH, "10.10.10.11", None, lang=lang)
    assert [f"{n}. {s}" for n, s in enumerate(steps, 1)] == annotations["description"].splitlines()[2:-1]
    wide = rules.cluster_wide_annotations(
        Cause.NAME_MISMATCH, cluster=LONDON, origin=ORIGIN, nodes=["a", "b"], lang=lang
    )
    inserted = remediation(Cause.NAME_MISMATCH, ORIGIN, None, cluster_wide_nodes=("a", "b"), cluster=LONDON, lang=lang)[
        1
    ]
    assert inserted == wide["description"].splitlines()[0]


# ---- the generated promtool tests of the probe alerts -------------------------------------------------------------

PROBED = "cucm-pub.example.com"
PROBED_IP = "10.10.10.12"
DAY = 86400


def metric_series(
    metric: str, labels: dict[str, str], values: str, instances: tuple[str, ...] = INSTANCES
) -> list[dict[str, str]]:
    out = []
    for instance in instances:
        pairs = {"job": "certwatch", "instance": instance, **labels}
        text = ",".join(f'{k}="{v}"' for k, v in pairs.items())
        out.append({"series": f"{metric}{{{text}}}", "values": values})
    return out


def predicts_group(cause: Cause, lang: Language = "en") -> dict[str, Any]:
    """One cause's prediction: the origin presents a certificate the probe refuses, on both instances (one alert)
    from 1m to 15m; an IP origin on instance a only, from 3m to 15m. ``for: 10m``: firing at 11m (13m)."""
    labels = {"origin": PROBED, "port": "8443", "cause": str(cause)}
    ip_labels = {"origin": PROBED_IP, "port": "6972", "cause": str(cause)}
    inputs = [
        *metric_series("certwatch_probe_cause", labels, "_ 1x14 stale"),
        *metric_series("certwatch_probe_cause", ip_labels, "_ _ _ 1x12 stale", INSTANCES[:1]),
    ]

    def expected(origin: str, port: int) -> dict[str, Any]:
        return {
            "exp_labels": {"severity": "critical", "origin": origin, "port": str(port), "cause": str(cause)},
            "exp_annotations": rules.predicts_annotations(cause, origin=origin, port=port, lang=lang),
        }

    cases = [
        ("0m", []),
        ("10m", []),  # pending: for 10m
        ("11m", [expected(PROBED, 8443)]),  # once, reported by two instances
        ("13m", [expected(PROBED, 8443), expected(PROBED_IP, 6972)]),
        ("16m", []),  # the probe passes again: the series is gone
    ]
    return {
        "name": f"probes: predicts {cause}",
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": [{"eval_time": at, "alertname": rules.PREDICTS, "exp_alerts": a} for at, a in cases],
    }


def expiry_group(lang: Language = "en") -> dict[str, Any]:
    """Three certificates, minutes after the Unix epoch (promtool's time 0):

    * PROBED:8443 depth 0 RSA, on both instances: 30 days and 10 minutes left at 0m (under 30 days from 11m:
      warning from 71m, ``for: 1h``), renewed for a year at 90m.
    * PROBED:8443 depth 1 RSA (the intermediate), instance a only: 7 days and 5 minutes left at 0m (under 7 days
      from 6m: critical from 16m; under 30 days from 0m: warning from 60m); gone (no longer served) at 100m.
    * PROBED_IP:6972 depth 0 ECDSA, both instances: expired at the epoch; warning and critical, gone at 100m.
    """
    leaf = {"origin": PROBED, "port": "8443", "depth": "0", "key_type": "RSA"}
    ca = {"origin": PROBED, "port": "8443", "depth": "1", "key_type": "RSA"}
    expired = {"origin": PROBED_IP, "port": "6972", "depth": "0", "key_type": "ECDSA"}
    leaf_until, ca_until = 30 * DAY + 600, 7 * DAY + 300
    metric = "certwatch_origin_cert_not_after_timestamp_seconds"
    inputs = [
        *metric_series(metric, leaf, f"{leaf_until}x89 {365 * DAY}x30"),
        *metric_series(metric, ca, f"{ca_until}x99 stale", INSTANCES[:1]),
        *metric_series(metric, expired, "0x99 stale"),
    ]

    def expected(labels: dict[str, str], until: int, at: int, severity: str) -> dict[str, Any]:
        annotations = rules.expiry_annotations(
            origin=labels["origin"],
            port=int(labels["port"]),
            depth=int(labels["depth"]),
            key_type=labels["key_type"],
            seconds=until - at * 60,
            lang=lang,
        )
        return {"exp_labels": {"severity": severity, **labels}, "exp_annotations": annotations}

    cases = [
        ("0m", []),
        ("9m", []),  # expired: pending (critical: for 10m)
        ("10m", [expected(expired, 0, 10, "critical")]),
        ("15m", [expected(expired, 0, 15, "critical")]),  # the CA: pending
        ("16m", [expected(ca, ca_until, 16, "critical"), expected(expired, 0, 16, "critical")]),
        (
            "60m",
            [
                expected(ca, ca_until, 60, "warning"),
                expected(ca, ca_until, 60, "critical"),
                expected(expired, 0, 60, "warning"),
                expected(expired, 0, 60, "critical"),
            ],
        ),
        (
            "71m",
            [
                expected(leaf, leaf_until, 71, "warning"),  # once, reported by two instances
                expected(ca, ca_until, 71, "warning"),
                expected(ca, ca_until, 71, "critical"),
                expected(expired, 0, 71, "warning"),
                expected(expired, 0, 71, "critical"),
            ],
        ),
        (
            "90m",  # the leaf renewed
            [
                expected(ca, ca_until, 90, "warning"),
                expected(ca, ca_until, 90, "critical"),
                expected(expired, 0, 90, "warning"),
                expected(expired, 0, 90, "critical"),
            ],
        ),
        ("100m", []),
    ]
    return {
        "name": "probes: certificate expiry",
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": [{"eval_time": at, "alertname": rules.EXPIRES, "exp_alerts": a} for at, a in cases],
    }


def fix_verified_group(lang: Language = "en") -> dict[str, Any]:
    """PROBED:8443 fails its probes until 4m and passes from 5m (both instances); its incidents stay open on expc01
    (both instances) and expc02 (instance b) until 24m. Not joined: PROBED:6972 (an incident, a failing probe),
    PROBED_IP:8443 (a passing probe, no incident). ``for: 10m``: firing at 15m."""
    probe = {"origin": PROBED, "port": "8443"}
    inputs = [
        *metric_series("certwatch_probe_success", probe, "0x4 1x25"),
        *metric_series("certwatch_probe_success", {"origin": PROBED, "port": "6972"}, "0x30"),
        *metric_series("certwatch_probe_success", {"origin": PROBED_IP, "port": "8443"}, "1x30"),
        *series(incident(LONDON, "expc01", PROBED, "8443", Cause.UNTRUSTED_SELF_SIGNED, True), "1x24 stale"),
        *series(
            incident(LONDON, "expc02", PROBED, "8443", Cause.UNTRUSTED_SELF_SIGNED, True), "1x24 stale", INSTANCES[1:]
        ),
        *series(incident(LONDON, "expc01", PROBED, "6972", Cause.UNTRUSTED_SELF_SIGNED, True), "1x30"),
    ]
    verified = {
        "exp_labels": {"severity": "info", **probe},
        "exp_annotations": rules.fix_verified_annotations(
            origin=PROBED, port=8443, nodes=["expc01", "expc02"], lang=lang
        ),
    }
    cases = [("0m", []), ("14m", []), ("15m", [verified]), ("24m", [verified]), ("25m", [])]
    return {
        "name": "probes: fix verified",
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": [{"eval_time": at, "alertname": rules.FIX_VERIFIED, "exp_alerts": a} for at, a in cases],
    }


def probe_tests(lang: Language = "en") -> str:
    doc = {
        "rule_files": [f"../../deploy/prometheus/{RULES_FILES[lang].name}"],
        "evaluation_interval": "1m",
        "tests": [*(predicts_group(cause, lang) for cause in Cause), expiry_group(lang), fix_verified_group(lang)],
    }
    header = (
        "# promtool unit tests of the probe alerts (prediction per cause, certificate expiry, fix verified), with two\n"
        "# certwatch instances probing the same origins. Generated by tests/unit/test_rules.py from the remediation\n"
        "# catalog: regenerate with `.venv/bin/pytest tests/unit/test_rules.py --update-golden`.\n"
    )
    if lang != "en":
        header = f"# The same tests of {RULES_FILES[lang].name}, the rules with {lang} annotations.\n" + header
    return header + yaml.dump(doc, Dumper=rules.Dumper, sort_keys=False, allow_unicode=True, width=1 << 16)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_probe_promtool_tests_are_current(lang: Language, update_golden: bool) -> None:
    """tests/promtool/probes.test.yml (probes.zh-CN.test.yml for the Chinese rules) is what probe_tests()
    generates (``--update-golden`` rewrites it)."""
    text = probe_tests(lang)
    path = PROBE_TESTS_BY_LANG[lang]
    if update_golden:
        path.write_text(text, encoding="utf-8")
    stale = "regenerate: .venv/bin/pytest tests/unit/test_rules.py --update-golden"
    assert text == path.read_text(encoding="utf-8"), stale


@pytest.mark.parametrize("lang", LANGUAGES)
def test_probe_alerts(lang: Language) -> None:
    """One prediction rule per cause (critical, the cause's catalog summary and its at-risk steps: no
    VerifyOriginServer workaround), expiry as a warning under 30 days and critical under 7, fix verified as info;
    every probe alert merges the instances and keeps the labels that say which origin, port and certificate."""
    doc = committed_rules(lang)
    (group,) = [g for g in doc["groups"] if g["name"] == "certwatch.probes"]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for rule in group["rules"]:
        by_name.setdefault(rule["alert"], []).append(rule)
    assert {rules.PREDICTS, rules.EXPIRES, rules.FIX_VERIFIED} == set(by_name)
    assert [str(cause) for cause in Cause] == [rule["labels"]["cause"] for rule in by_name[rules.PREDICTS]]
    for cause, rule in zip(Cause, by_name[rules.PREDICTS], strict=True):
        assert ("critical", rules.FOR_PREDICTS) == (rule["labels"]["severity"], rule["for"])
        assert rule["expr"].startswith("max by (origin, port, cause) (certwatch_probe_cause{")
        assert f'cause="{cause}"' in rule["expr"]
        description = rule["annotations"]["description"]
        assert texts(lang).rules["incident.fix"].format(fix=summary(cause, lang)) in description.splitlines()
        steps = rules.template_steps(cause, enforced=False, lang=lang)
        assert [f"{n}. {step}" for n, step in enumerate(steps, 1)] == description.splitlines()[2:-1]
        assert "VerifyOriginServer" not in description
    assert [("warning", "1h", "30"), ("critical", "10m", "7")] == [
        (rule["labels"]["severity"], rule["for"], rule["expr"].split("< ")[1].split(" ")[0])
        for rule in by_name[rules.EXPIRES]
    ]
    for rule in by_name[rules.EXPIRES]:
        assert rule["expr"].startswith("min by (origin, port, depth, key_type) (")
    [verified] = by_name[rules.FIX_VERIFIED]
    assert ("info", "10m") == (verified["labels"]["severity"], verified["for"])
    assert "and on (origin, port)" in verified["expr"]


def test_humanize_duration_is_prometheus() -> None:
    """The values promtool's tests compare with Prometheus's own humanizeDuration."""
    assert ["0s", "1.5s", "1m 0s", "2h 3m 4s", "29d 23h 49m 0s", "-1d 0h 0m 0s", "500ms"] == [
        rules.humanize_duration(v) for v in (0, 1.5, 60, 7384, 30 * DAY - 660, -DAY, 0.5)
    ]
