"""strongbox.obs.tracing: per-node providers, the in-memory exporter, W3C propagation over
gRPC metadata, and exporters that construct without touching the network."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from strongbox.obs.tracing import (
    EXPORTERS,
    Tracing,
    extract_metadata,
    inject_metadata,
    setup_tracing,
)


@pytest.fixture
def node_a() -> Iterator[Tracing]:
    tracing = setup_tracing("memory", service_name="strongbox", node_id="node-a")
    yield tracing
    tracing.shutdown()


@pytest.fixture
def node_b() -> Iterator[Tracing]:
    tracing = setup_tracing("memory", service_name="strongbox", node_id="node-b")
    yield tracing
    tracing.shutdown()


def finished(tracing: Tracing) -> list[ReadableSpan]:
    assert tracing.memory_exporter is not None
    return list(tracing.memory_exporter.get_finished_spans())


def test_memory_exporter_records_spans_with_attributes(node_a: Tracing) -> None:
    with node_a.tracer.start_as_current_span("PUT /v1/{mount}/data/*") as span:
        span.set_attribute("http.route", "/v1/{mount}/data/*")
        span.set_attribute("strongbox.request_id", "req-1")
    (recorded,) = finished(node_a)
    assert recorded.name == "PUT /v1/{mount}/data/*"
    assert recorded.attributes is not None
    assert recorded.attributes["http.route"] == "/v1/{mount}/data/*"
    assert recorded.attributes["strongbox.request_id"] == "req-1"
    assert recorded.resource.attributes["service.name"] == "strongbox"
    assert recorded.resource.attributes["service.instance.id"] == "node-a"


def test_each_node_has_its_own_provider_and_the_global_one_is_untouched(
        node_a: Tracing, node_b: Tracing) -> None:
    with node_a.tracer.start_as_current_span("only-on-a"):
        pass
    assert [s.name for s in finished(node_a)] == ["only-on-a"]
    assert finished(node_b) == []
    assert trace.get_tracer_provider() not in (node_a.provider, node_b.provider)


def test_inject_extract_round_trip_keeps_the_trace_id(node_a: Tracing, node_b: Tracing) -> None:
    with node_a.tracer.start_as_current_span("forward") as parent:
        metadata = inject_metadata()
    parent_ctx = parent.get_span_context()
    assert all(key == key.lower() for key, _ in metadata)
    assert "traceparent" in dict(metadata)

    # gRPC may hand metadata values over as bytes.
    received = [(key, value.encode()) for key, value in metadata]
    with node_b.tracer.start_as_current_span("handle", context=extract_metadata(received)):
        pass
    (child,) = finished(node_b)
    assert child.context is not None and child.parent is not None
    assert child.context.trace_id == parent_ctx.trace_id
    assert child.parent.span_id == parent_ctx.span_id
    assert child.parent.is_remote


def test_inject_uses_an_explicit_context_and_carries_tracestate(node_a: Tracing) -> None:
    remote = trace.SpanContext(trace_id=0x1234, span_id=0x5678, is_remote=True,
                               trace_flags=trace.TraceFlags(1),
                               trace_state=trace.TraceState([("vendor", "v1")]))
    context = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    metadata = dict(inject_metadata(context))
    assert metadata["traceparent"] == f"00-{0x1234:032x}-{0x5678:016x}-01"
    assert metadata["tracestate"] == "vendor=v1"
    extracted = trace.get_current_span(extract_metadata(metadata.items())).get_span_context()
    assert (extracted.trace_id, extracted.span_id) == (0x1234, 0x5678)
    assert extracted.trace_state.get("vendor") == "v1"


def test_extract_reads_keys_case_insensitively() -> None:
    header = f"00-{0xABC:032x}-{0xDEF:016x}-01"
    context = extract_metadata([("TraceParent", header), ("x-other", b"\x00binary")])
    assert trace.get_current_span(context).get_span_context().trace_id == 0xABC


def test_no_or_bad_metadata_starts_a_new_trace(node_a: Tracing) -> None:
    for metadata in ([], [("traceparent", "garbage")]):
        with node_a.tracer.start_as_current_span("root", context=extract_metadata(metadata)):
            pass
    assert [span.parent for span in finished(node_a)] == [None, None]


def test_inject_without_a_span_is_empty() -> None:
    assert inject_metadata(trace.set_span_in_context(trace.INVALID_SPAN)) == []


def test_none_exporter_records_nothing_but_passes_the_trace_through() -> None:
    tracing = setup_tracing("none", service_name="strongbox", node_id="n1")
    assert tracing.provider is None and tracing.memory_exporter is None
    with tracing.tracer.start_as_current_span("ignored") as span:
        assert not span.is_recording()
    header = f"00-{0x77:032x}-{0x88:016x}-01"
    with tracing.tracer.start_as_current_span(
            "forward", context=extract_metadata([("traceparent", header)])):
        assert dict(inject_metadata())["traceparent"] == header
    tracing.shutdown()


def test_none_exporter_is_cheap() -> None:
    tracer = setup_tracing("none", service_name="strongbox", node_id="n1").tracer
    start = time.perf_counter()
    for _ in range(10_000):
        with tracer.start_as_current_span("x"):
            pass
    assert (time.perf_counter() - start) / 10_000 < 100e-6


def test_unknown_exporter_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="jaeger") as info:
        setup_tracing("jaeger", service_name="strongbox", node_id="n1")
    for name in EXPORTERS:
        assert name in str(info.value)


def test_otlp_exporter_constructs_without_network() -> None:
    tracing = setup_tracing("otlp", service_name="strongbox", node_id="n1",
                            otlp_endpoint="http://127.0.0.1:1")
    assert tracing.provider is not None and tracing.memory_exporter is None
    assert tracing.tracer is not None
    start = time.monotonic()
    tracing.shutdown()  # nothing was recorded, so nothing is sent
    tracing.shutdown()  # idempotent
    assert time.monotonic() - start < 5


def test_console_exporter_constructs_and_shuts_down() -> None:
    tracing = setup_tracing("console", service_name="strongbox", node_id="n1")
    assert tracing.provider is not None
    assert tracing.force_flush(1_000)
    tracing.shutdown()
