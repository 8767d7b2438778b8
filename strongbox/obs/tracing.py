"""OpenTelemetry tracing for one node, and W3C trace-context propagation over gRPC metadata.

Contract:

- `setup_tracing(exporter, service_name=..., node_id=...)` builds a `Tracing` with its own
  `TracerProvider`. The global provider (`opentelemetry.trace.set_tracer_provider`) is never
  touched: several nodes may share one process and each must export under its own
  `service.instance.id` (= node id).
- Exporters: `"none"` (no provider at all; a no-op tracer whose spans are non-recording but
  still carry an incoming parent's span context, so propagation passes through a node with
  tracing off — cost is one small object per span), `"console"` (stdout, batched), `"otlp"`
  (OTLP over HTTP/protobuf, batched; needs the `opentelemetry-exporter-otlp-proto-http`
  package, imported only when chosen), `"memory"` (`InMemorySpanExporter` behind a
  `SimpleSpanProcessor` so spans are visible to a test as soon as they end).
- `inject_metadata(context)` / `extract_metadata(metadata)` carry `traceparent` and
  `tracestate` (lower-case keys, as gRPC requires) between nodes on the cluster gRPC link.
  They use the W3C propagator directly, not the process-global propagator, so another
  library's propagation settings cannot change what goes on the wire.
- Span attributes must never hold a token, secret value or key material; route templates and
  request ids are fine.

Threading: a `Tracer` is thread-safe; spans may be started on any thread (asyncio loop, Raft
tick thread, gRPC threads). The batch processor exports on its own daemon thread.
`Tracing.shutdown()` flushes and stops that thread; call it once, at node shutdown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

EXPORTERS = ("none", "console", "otlp", "memory")
INSTRUMENTATION_NAME = "strongbox"
OTLP_TRACES_PATH = "/v1/traces"
OTLP_TIMEOUT_S = 5.0

_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(slots=True)
class Tracing:
    """The tracer of one node. `provider` is None for the "none" exporter;
    `memory_exporter` is set only for the "memory" exporter."""

    tracer: trace.Tracer
    provider: TracerProvider | None = None
    memory_exporter: InMemorySpanExporter | None = None
    _closed: bool = field(default=False, init=False, repr=False)

    def force_flush(self, timeout_ms: int = 5_000) -> bool:
        """Export everything ended so far; False if it did not finish within the timeout."""
        return self.provider.force_flush(timeout_ms) if self.provider is not None else True

    def shutdown(self) -> None:
        """Flush and stop the exporters (idempotent); the tracer then records nothing more."""
        if self.provider is not None and not self._closed:
            self._closed = True
            self.provider.shutdown()


def _otlp_exporter(endpoint: str | None) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ValueError("tracing exporter 'otlp' needs the package "
                         "opentelemetry-exporter-otlp-proto-http") from exc
    if endpoint is not None:
        endpoint = endpoint.rstrip("/")
        if not endpoint.endswith(OTLP_TRACES_PATH):
            endpoint += OTLP_TRACES_PATH
    # endpoint None: the exporter reads OTEL_EXPORTER_OTLP_*ENDPOINT or uses localhost:4318.
    return OTLPSpanExporter(endpoint=endpoint, timeout=OTLP_TIMEOUT_S)


def setup_tracing(exporter: str, *, service_name: str, node_id: str,
                  otlp_endpoint: str | None = None) -> Tracing:
    """Build the tracing of one node. `otlp_endpoint` is the collector's base URL
    (`http://collector:4318`, like OTEL_EXPORTER_OTLP_ENDPOINT; `/v1/traces` is appended)
    and is used only by the "otlp" exporter. Raises ValueError for an unknown exporter."""
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown tracing exporter {exporter!r}; accepted: "
                         f"{', '.join(EXPORTERS)}")
    if exporter == "none":
        return Tracing(tracer=trace.NoOpTracer())
    memory: InMemorySpanExporter | None = None
    processor: SpanProcessor
    if exporter == "memory":
        memory = InMemorySpanExporter()
        processor = SimpleSpanProcessor(memory)
    elif exporter == "console":
        processor = BatchSpanProcessor(ConsoleSpanExporter(service_name=service_name))
    else:
        processor = BatchSpanProcessor(_otlp_exporter(otlp_endpoint))
    resource = Resource.create({"service.name": service_name, "service.instance.id": node_id})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    return Tracing(tracer=provider.get_tracer(INSTRUMENTATION_NAME), provider=provider,
                   memory_exporter=memory)


def inject_metadata(context: Context | None = None) -> list[tuple[str, str]]:
    """`traceparent` (and `tracestate` when set) of the span current in `context` (default:
    the current context), as gRPC metadata pairs. Empty when there is no valid span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return [(key.lower(), value) for key, value in carrier.items()]


def extract_metadata(metadata: Iterable[tuple[str, str | bytes]]) -> Context:
    """A context whose current span is the remote parent named by `traceparent` in gRPC
    `metadata` (keys compared case-insensitively). Without a valid `traceparent` the result
    is an empty context, so spans started from it begin a new trace."""
    carrier: dict[str, list[str]] = {}
    for key, value in metadata:
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        carrier.setdefault(key.lower(), []).append(text)
    return _PROPAGATOR.extract(carrier, context=Context())
