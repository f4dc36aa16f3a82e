"""The Grafana dashboard and its provisioning, checked as files: structure, variables, queries against the metrics
contract (``telemetry.METRICS``), the cause -> fix value mappings against the remediation catalog.

``tests/integration/test_prometheus_e2e.py`` runs the same queries against a real Prometheus.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from certwatch.model import Cause
from certwatch.remediate import summary
from certwatch.telemetry import METRICS

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "certwatch.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "certwatch.yaml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "certwatch.yaml"
RULES = ROOT / "deploy" / "prometheus" / "certwatch-rules.yml"
DATASOURCE = {"type": "prometheus", "uid": "certwatch-prometheus"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range"}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}
SCRAPE_LABELS = {"job", "instance"}


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def exprs() -> list[str]:
    return [t["expr"] for p in panels() for t in p["targets"]]


def variable_queries() -> dict[str, str]:
    return {v["name"]: v["query"]["query"] for v in dashboard()["templating"]["list"] if v["type"] == "query"}


def variable_selectors() -> list[str]:
    """The series selectors of the ``label_values(selector, label)`` variables."""
    selectors = []
    for query in variable_queries().values():
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
        assert match is not None, query
        selectors.append(match[1])
    return selectors


def recording_rules() -> set[str]:
    if not RULES.exists():
        return set()
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


# ---- a small PromQL reader: enough to list metric names and label names -----------------------------------------

STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(?:=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
IDENTIFIER = re.compile(r"(?<![\w.$:])([A-Za-z_:][\w:]*)(?![\w:])(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression reads: bare names before ``{``/``[``/spaces and ``__name__`` matchers."""
    names = set()
    for metric, matchers in SELECTOR.findall(expr):
        if metric:
            names.add(metric)
        for label, value in MATCHER.findall(matchers):
            if label == "__name__":
                names.update(value.split("|"))
    rest = GROUPING.sub(" ", STRING.sub('""', expr))
    rest = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\$\{?\w+\}?", " ", rest)
    for name, call in IDENTIFIER.findall(rest):
        if not call and name not in PROMQL_KEYWORDS:
            names.add(name)
    return names


def selector_labels(expr: str) -> list[tuple[str, str]]:
    """(metric, label) for every label matcher of a selector (each metric of a ``__name__`` regex)."""
    out = []
    for metric, matchers in SELECTOR.findall(expr):
        pairs = MATCHER.findall(matchers)
        named = [value.split("|") for label, value in pairs if label == "__name__"]
        for name in [metric] if metric else [n for names in named for n in names]:
            out += [(name, label) for label, _ in pairs if label != "__name__"]
    return out


def grouping_labels(expr: str) -> set[str]:
    return {label.strip() for group in GROUPING.findall(expr) for label in group.split(",") if label.strip()}


def created_labels(expr: str) -> set[str]:
    """Labels made by ``label_replace(v, "dst", "replacement", "src", "regex")``."""
    return set(re.findall(r'label_replace\(.*?,\s*"(\w+)",\s*"[^"]*",\s*"\w+",\s*"[^"]*"\)', expr))


# ---- the tests ---------------------------------------------------------------------------------------------------


def test_the_committed_json_is_what_the_generator_writes() -> None:
    """grafana/dashboards/certwatch.json is generated: edit grafana/generate.py and run it, never the JSON."""
    assert generator().render() == DASHBOARD.read_text()


def test_identity_and_schema_are_stable() -> None:
    """uid and title are what links and provisioning rely on; the schema is Grafana 10's."""
    data = dashboard()
    assert ("certwatch-mra", "certwatch: MRA origin certificates", 38, None) == (
        data["uid"],
        data["title"],
        data["schemaVersion"],
        data["id"],
    )
    assert "DS_PROMETHEUS" not in DASHBOARD.read_text()
    assert "__inputs" not in data


def test_variables_cluster_node_origin() -> None:
    """Chained multi-value variables with an "All" of ``.*``, each narrowing the next."""
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert {
        "cluster": "label_values(certwatch_node_messages_total, cluster)",
        "node": 'label_values(certwatch_node_messages_total{cluster=~"$cluster"}, node)',
        "origin": 'label_values({__name__=~"certwatch_cert_verify_failures_total|certwatch_bad_gateway_total|'
        'certwatch_origin_responses_total",cluster=~"$cluster",node=~"$node"}, origin)',
    } == variable_queries()
    for name in ("cluster", "node", "origin"):
        variable = variables[name]
        assert (DATASOURCE, True, True, ".*", variable["query"]["query"]) == (
            variable["datasource"],
            variable["includeAll"],
            variable["multi"],
            variable["allValue"],
            variable["definition"],
        )
    assert ("textbox", "certwatch") == (variables["job"]["type"], variables["job"]["query"])


def test_every_panel_has_the_provisioned_datasource_and_targets() -> None:
    """Rows aside, every panel and every target names the provisioned data source by uid; refIds are unique."""
    problems = []
    for panel in panels():
        refs = [t["refId"] for t in panel["targets"]]
        if panel.get("datasource") != DATASOURCE or not refs or len(refs) != len(set(refs)):
            problems.append(panel["title"])
        problems += [f"{panel['title']} {t['refId']}" for t in panel["targets"] if t.get("datasource") != DATASOURCE]
        problems += [f"{panel['title']} {t['refId']} empty" for t in panel["targets"] if not t.get("expr")]
    assert [] == problems


def test_the_panels_the_noc_needs_are_there() -> None:
    """The issue's list: incidents with their fix, 502s per origin, failures by cause, at-risk origins, per-node
    message rate and silence, certwatch ingest health."""
    titles = {p["title"] for p in panels()}
    required = {
        "Active incidents",
        "502s per origin",
        "Verify failures by cause",
        "At-risk origins",
        "Messages per node",
        "Node silence",
        "Messages received",
        "Messages dropped",
        "Parse failures",
        "Kernel UDP drops",
        "Ingress queue",
    }
    assert required == required & titles


def test_panel_ids_and_grid_positions_do_not_collide() -> None:
    """Unique ids; every panel inside the 24 columns; no two panels overlap."""
    all_panels = dashboard()["panels"]
    assert len(all_panels) == len({p["id"] for p in all_panels})
    cells: dict[tuple[int, int], str] = {}
    overlaps = []
    for panel in all_panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                if (x, y) in cells:
                    overlaps.append((cells[(x, y)], panel["title"]))
                cells[(x, y)] = panel["title"]
    assert [] == overlaps


def test_every_metric_in_a_query_is_exported() -> None:
    """Panel and variable queries read only metrics of ``telemetry.METRICS``, ``up`` or recording rules of the
    shipped rules file."""
    known = set(METRICS) | {"up"} | recording_rules()
    used = set().union(*(metric_names(e) for e in [*exprs(), *variable_selectors()]))
    assert set() == used - known
    assert "certwatch_incident_active" in used


def test_the_promql_reader_finds_names_and_skips_functions_keywords_and_labels() -> None:
    """The helper the previous test relies on."""
    expr = (
        'sum by (origin) ((a_total{x="b_total"} unless a_total offset $__rate_interval) or increase(c[1m])) '
        '* on (n) group_left d or {__name__=~"e|f"} + time() - 1e3'
    )
    assert {"a_total", "c", "d", "e", "f"} == metric_names(expr)


def test_label_names_exist_on_the_metrics_they_filter_or_group() -> None:
    """A typo in a label (``orgin``) would silently match nothing: every matcher and grouping label is one of
    the metric's labels, a scrape label or one the query creates."""
    problems = []
    for expr in [*exprs(), *variable_selectors()]:
        names = {n for n in metric_names(expr) if n in METRICS}
        for metric, label in selector_labels(expr):
            if metric in METRICS and label not in {*METRICS[metric].labels, *SCRAPE_LABELS}:
                problems.append(f"{metric}{{{label}}}")
        available = {label for n in names for label in METRICS[n].labels} | SCRAPE_LABELS | created_labels(expr)
        problems += [f"{label} in {expr}" for label in grouping_labels(expr) - available]
    assert [] == problems


def test_variables_and_rate_windows() -> None:
    """Only defined variables and Grafana's own; every range of a rate or increase is ``$__rate_interval``
    (``$__range`` in the totals over the dashboard range)."""
    defined = {v["name"] for v in dashboard()["templating"]["list"]} | GRAFANA_BUILTINS
    used = {name for e in exprs() for name in re.findall(r"\$\{?([A-Za-z_]\w*)\}?", e)}
    windows = {w for e in exprs() for w in re.findall(r"\b(?:rate|increase)\([^\[]*\[([^\]]*)\]", e)}
    offsets = {w for e in exprs() for w in re.findall(r"\boffset\s+(\S+?)\)", e)}
    assert (set(), {"$__rate_interval", "$__range"}) == (used - defined, windows | offsets)


def fix_mappings() -> dict[str, list[Any]]:
    """Title of each panel with a ``fix`` column -> the value mappings of that column."""
    out = {}
    for panel in panels():
        for rule in panel["fieldConfig"]["overrides"]:
            if rule["matcher"] == {"id": "byName", "options": "fix"}:
                out[panel["title"]] = next(p["value"] for p in rule["properties"] if p["id"] == "mappings")
    return out


def test_the_fix_column_maps_every_cause_to_its_catalog_summary() -> None:
    """The value mappings are ``remediate.summary()`` for every ``Cause``, no more, no less."""
    expected = {str(cause): summary(cause) for cause in Cause}
    mappings = fix_mappings()
    assert ["Active incidents", "At-risk origins", "Probe failures"] == sorted(mappings)
    for value in mappings.values():
        assert (1, "value") == (len(value), value[0]["type"])
        assert expected == {cause: option["text"] for cause, option in value[0]["options"].items()}


def test_every_fix_column_comes_from_the_cause_label() -> None:
    """The tables with a fix column copy ``cause`` into ``fix`` in each of their queries."""
    for title in fix_mappings():
        panel = next(p for p in panels() if p["title"] == title)
        assert [{"fix"}] * len(panel["targets"]) == [created_labels(t["expr"]) for t in panel["targets"]]


def test_the_datasource_provisioning_matches_the_dashboard() -> None:
    """The provisioned data source is the uid every panel names, a Prometheus at http://prometheus:9090."""
    provisioning = yaml.safe_load(DATASOURCES.read_text())
    (source,) = provisioning["datasources"]
    assert (1, "certwatch-prometheus", "prometheus", "proxy", "http://prometheus:9090") == (
        provisioning["apiVersion"],
        source["uid"],
        source["type"],
        source["access"],
        source["url"],
    )
    uids = set(re.findall(r'"uid": "([^"]+)"', DASHBOARD.read_text())) - {"certwatch-mra", "-- Grafana --"}
    assert {source["uid"]} == uids


def test_the_dashboard_provider_loads_the_mounted_directory() -> None:
    """A file provider reading /var/lib/grafana/dashboards, where grafana/dashboards is mounted."""
    provisioning = yaml.safe_load(PROVIDERS.read_text())
    (provider,) = provisioning["providers"]
    assert (1, "file", "/var/lib/grafana/dashboards") == (
        provisioning["apiVersion"],
        provider["type"],
        provider["options"]["path"],
    )
    assert ["certwatch.json"] == sorted(p.name for p in DASHBOARD.parent.iterdir())


def test_the_origin_probe_row() -> None:
    """A row "Origin probes": probe status per origin and port over time and now (ok/FAIL), the failures with their
    cause and fix, and the days to expiry of every certificate with the alert rules' thresholds (7, 30)."""
    from certwatch import rules  # noqa: PLC0415 - only this test needs the rules module

    all_panels = dashboard()["panels"]
    start = next(i for i, p in enumerate(all_panels) if p["type"] == "row" and p["title"] == "Origin probes")
    end = next(i for i, p in enumerate(all_panels) if i > start and p["type"] == "row")
    row = {p["title"]: p for p in all_panels[start + 1 : end]}
    assert ["Probe status", "Probes", "Probe failures", "Days to expiry"] == list(row)
    assert "state-timeline" == row["Probe status"]["type"]
    for title in ("Probe status", "Probes", "Probe failures", "Days to expiry"):
        for t in row[title]["targets"]:
            assert 'origin=~"$origin"' in t["expr"], (title, t["expr"])
            assert re.match(r"\(?(max|min|sum) by \(origin, port", t["expr"]), t["expr"]  # instances merged
    assert ["origin", "port", "cause", "fix"] == sorted(
        row["Probe failures"]["transformations"][1]["options"]["indexByName"],
        key=row["Probe failures"]["transformations"][1]["options"]["indexByName"].get,
    )
    (days,) = row["Days to expiry"]["targets"]
    assert days["expr"].endswith("- time()) / 86400")
    (override_,) = row["Days to expiry"]["fieldConfig"]["overrides"]
    steps = next(p["value"]["steps"] for p in override_["properties"] if p["id"] == "thresholds")
    assert [None, rules.EXPIRES_CRITICAL_DAYS, rules.EXPIRES_WARNING_DAYS] == [step["value"] for step in steps]
    assert ["red", "orange", "green"] == [step["color"] for step in steps]
