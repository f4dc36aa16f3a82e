"""The Prometheus view of certwatch, built fresh at every scrape from the engine's and listeners' plain state.

Nothing here is updated on the hot path: the correlator keeps bounded monotonic counters and tables, the listeners
plain ints; :class:`CertwatchCollector` turns them into metric families (names and help from
:data:`certwatch.telemetry.METRICS`). Sample output::

    certwatch_incident_active{cluster="default",node="expc01",origin="cucm-sub1.example.com",port="6972",
                              cause="untrusted_self_signed",enforced="true"} 1.0
    certwatch_bad_gateway_total{cluster="default",node="expc01",origin="cucm-sub1.example.com",port="6972",
                                cause="untrusted_self_signed"} 1.0
    certwatch_node_request_lines_total{cluster="default",node="expc01"} 4.0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from certwatch._version import __version__
from certwatch.correlate.counters import OVERFLOW, LabelCounters
from certwatch.probe.schedule import not_after_seconds
from certwatch.telemetry import METRICS

if TYPE_CHECKING:
    from certwatch.state import State

Family = CounterMetricFamily | GaugeMetricFamily


def family(name: str) -> Family:
    spec = METRICS[name]
    if spec.kind == "counter":
        return CounterMetricFamily(name, spec.help, labels=spec.labels)
    return GaugeMetricFamily(name, spec.help, labels=spec.labels)


def _bool(value: bool) -> str:
    return "true" if value else "false"


class CertwatchCollector(Collector):
    """Renders :class:`certwatch.state.State` at scrape time; the event loop is the only writer, so no locks."""

    def __init__(self, state: State) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        yield from self._incidents()
        yield from self._probes()
        yield from self._nodes()
        yield from self._ingestion()
        yield from self._state_tables()
        yield from self._self()

    # ---- incidents ---------------------------------------------------------------------------------------------

    def _incidents(self) -> Iterator[Metric]:
        state = self.state
        correlator = state.engine.correlator
        cluster_of = correlator.cluster_of
        cap = state.config.metrics.max_series
        active = family("certwatch_incident_active")
        started = family("certwatch_incident_started_timestamp_seconds")
        overflow = 0
        for i, finding in enumerate(sorted(state.incidents.active(), key=lambda f: f.first_seen)):
            key = finding.key
            if i >= cap:
                overflow += 1
                continue
            labels = [finding.cluster, key.node, key.origin, _port(key.port), str(key.cause), _bool(key.enforced)]
            active.add_metric(labels, 1)
            started.add_metric(labels, finding.first_seen)
        if overflow:
            active.add_metric([OVERFLOW] * 6, overflow)
        yield active
        yield started
        yield self._counter("certwatch_cert_verify_failures_total", correlator.failure_counts, cluster_of)
        yield self._counter("certwatch_bad_gateway_total", correlator.bad_gateway_counts, cluster_of)
        yield self._counter("certwatch_origin_responses_total", correlator.response_counts, cluster_of)
        changes = family("certwatch_incident_changes_total")
        for change, count in state.telemetry.incident_changes.items():
            changes.add_metric([change], count)
        yield changes

    @staticmethod
    def _counter(name: str, counters: LabelCounters, cluster_of: object) -> Family:
        metric = family(name)
        for labels, count in counters.items():
            node = labels[0]
            cluster = OVERFLOW if node == OVERFLOW else cluster_of(node)  # type: ignore[operator]
            metric.add_metric([cluster, *labels], count)
        return metric

    # ---- active origin probes ----------------------------------------------------------------------------------

    def _probes(self) -> Iterator[Metric]:
        """One set of series per probe target (bounded: configured targets plus at most 256 from incidents); none
        while probes are off or before a target's first probe."""
        success = family("certwatch_probe_success")
        stamp = family("certwatch_probe_timestamp_seconds")
        cause = family("certwatch_probe_cause")
        errors = family("certwatch_probe_errors_total")
        not_after = family("certwatch_origin_cert_not_after_timestamp_seconds")
        probes = self.state.probes
        for slot in [] if probes is None else probes.slots():
            origin, port = slot.target.name, str(slot.target.port)
            for reason, count in slot.errors.items():
                errors.add_metric([origin, port, reason], count)
            result = slot.result
            if result is None or slot.finished_at is None:
                continue
            success.add_metric([origin, port], 1 if result.ok else 0)
            stamp.add_metric([origin, port], slot.finished_at)
            if result.cause is not None:
                cause.add_metric([origin, port, str(result.cause)], 1)
            for cert in result.chain:
                with suppress(ValueError):  # an unreadable date: no series rather than a failed scrape
                    seconds = not_after_seconds(cert.not_after)
                    not_after.add_metric([origin, port, str(cert.depth), cert.key_type], seconds)
        yield from (success, stamp, cause, errors, not_after)

    # ---- nodes -------------------------------------------------------------------------------------------------

    def _nodes(self) -> Iterator[Metric]:
        state = self.state
        cluster_of = state.engine.correlator.cluster_of
        now = state.clock()
        silence = state.config.nodes.silence_after
        messages = family("certwatch_node_messages_total")
        request_lines = family("certwatch_node_request_lines_total")
        last = family("certwatch_node_last_message_timestamp_seconds")
        silent = family("certwatch_node_silent")
        for node, activity in state.engine.nodes.items():
            labels = [OVERFLOW if node == OVERFLOW else cluster_of(node), node]
            messages.add_metric(labels, activity.messages)
            request_lines.add_metric(labels, activity.request_lines)
            last.add_metric(labels, activity.last_message or 0.0)
            quiet = activity.last_message is None or now - activity.last_message > silence
            silent.add_metric(labels, 1 if quiet else 0)
        yield from (messages, request_lines, last, silent)

    # ---- ingestion ---------------------------------------------------------------------------------------------

    def _ingestion(self) -> Iterator[Metric]:
        state = self.state
        t = state.telemetry
        framing = Counter[tuple[str, str]]()
        truncated = 0
        for listener in state.streams:
            stats = listener.framing
            framing[(listener.transport_name, "frame_too_long")] += stats.frame_too_long
            framing[(listener.transport_name, "bad_length")] += stats.bad_length
            truncated += stats.truncated_frame
        yield _by("certwatch_messages_received_total", {(k,): v for k, v in t.received.items()})
        yield _by("certwatch_received_bytes_total", {(k,): v for k, v in t.received_bytes.items()})
        dropped = dict(t.dropped)
        dropped["truncated_frame"] += truncated
        yield _by("certwatch_messages_dropped_total", {(k,): v for k, v in dropped.items()})
        failures = dict(state.engine.stats.failures)
        failures["orphan_continuation"] += state.read_stats.orphan_lines
        yield _by("certwatch_parse_failures_total", {(k,): v for k, v in failures.items()})
        yield _by("certwatch_messages_ignored_total", {(): state.engine.stats.ignored})
        yield _by("certwatch_overlong_lines_total", {(): state.read_stats.overlong_lines})
        errors = {key: t.frame_errors.get(key, 0) + framing.get(key, 0) for key in t.frame_errors}
        yield _by("certwatch_frame_errors_total", errors)
        yield _by("certwatch_connections_total", {(k,): v for k, v in t.connections.items()})
        yield _by("certwatch_connections_open", {(k,): v for k, v in t.connections_open.items()})
        yield _by("certwatch_connections_refused_total", t.refused)
        yield _by("certwatch_connections_closed_total", t.closed)
        yield _by("certwatch_tls_handshake_failures_total", {(k,): v for k, v in t.tls_failures.items()})
        yield _by("certwatch_http_requests_refused_total", {(k,): v for k, v in t.http_refused.items()})
        yield _by("certwatch_backpressure_pauses_total", {(): t.backpressure_pauses})
        ingress = state.ingress
        yield _by("certwatch_ingress_queue_batches", {(): ingress.queued if ingress else 0})
        yield _by("certwatch_ingress_queue_capacity_batches", {(): ingress.capacity if ingress else 0})
        yield from self._udp()

    def _udp(self) -> Iterator[Metric]:
        buffers = family("certwatch_udp_receive_buffer_bytes")
        drops = family("certwatch_udp_kernel_drops_total")
        for handle in self.state.udp:
            buffers.add_metric([handle.address], handle.receive_buffer)
            kernel = handle.kernel_drops()
            if kernel is not None:
                drops.add_metric([handle.address], kernel)
        yield buffers
        yield drops
        host = family("certwatch_host_udp_receive_buffer_errors_total")
        errors = self.state.host_udp_errors()
        if errors is not None:
            host.add_metric([], errors)
        yield host

    # ---- bounded state -----------------------------------------------------------------------------------------

    def _state_tables(self) -> Iterator[Metric]:
        correlator = self.state.engine.correlator
        entries = family("certwatch_state_entries")
        capacity = family("certwatch_state_capacity")
        sizes = correlator.table_sizes()
        evictions = correlator.table_evictions()
        # probe targets: configured ones plus at most 256 from open incidents; beyond that, incident targets are
        # refused (counted as evictions, once per incident target while it stays refused)
        sizes["probe_targets"], evictions["probe_targets"] = (0, 0), 0
        if (probes := self.state.probes) is not None:
            sizes["probe_targets"] = (len(probes.slots()), probes.schedule.capacity)
            evictions["probe_targets"] = probes.schedule.refused
        for table, (size, bound) in sizes.items():
            entries.add_metric([table], size)
            capacity.add_metric([table], bound)
        yield entries
        yield capacity
        yield _by("certwatch_state_evictions_total", {(k,): v for k, v in evictions.items()})
        overflow = {
            ("certwatch_cert_verify_failures_total",): correlator.failure_counts.overflowed,
            ("certwatch_bad_gateway_total",): correlator.bad_gateway_counts.overflowed,
            ("certwatch_origin_responses_total",): correlator.response_counts.overflowed,
            ("certwatch_node_messages_total",): self.state.engine.nodes.overflowed,
        }
        yield _by("certwatch_label_overflow_total", overflow)

    # ---- certwatch itself --------------------------------------------------------------------------------------

    def _self(self) -> Iterator[Metric]:
        t = self.state.telemetry
        yield _by("certwatch_build_info", {(__version__,): 1})
        yield _by("certwatch_config_last_reload_success", {(): 1 if t.config_reload_success else 0})
        yield _by("certwatch_config_last_reload_timestamp_seconds", {(): t.config_reload_timestamp})
        yield _by("certwatch_scrape_duration_seconds", {(): t.scrape_duration})
        yield _by("certwatch_event_loop_lag_seconds", {(): t.loop_lag})
        yield _by("certwatch_asyncio_tasks", {(): t.tasks})
        yield _by("certwatch_state_last_save_timestamp_seconds", {(): t.state_last_save})
        yield _by("certwatch_state_load_failures_total", {(): t.state_load_failures})
        yield _by("certwatch_state_save_failures_total", {(): t.state_save_failures})


def _port(port: int | None) -> str:
    return "" if port is None else str(port)


def _by(name: str, values: Mapping[Any, float]) -> Family:
    """A family from ``{label values tuple: value}``."""
    metric = family(name)
    for labels, value in values.items():
        metric.add_metric(list(labels), value)
    return metric
