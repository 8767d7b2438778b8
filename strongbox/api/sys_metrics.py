"""GET /v1/sys/metrics?format=prometheus: this node's Prometheus metrics.

Needs a token (read on sys/metrics) unless `observability.metrics_unauthenticated`
is set, and answers while sealed (a sealed node is exactly what to alert on).
"""

from __future__ import annotations

from strongbox.backend.context import Context, Route
from strongbox.backend.response import Response
from strongbox.errors import BadRequest, ServiceUnavailable


async def get_metrics(ctx: Context) -> Response:
    core = ctx.core
    if not core.config.observability.metrics_unauthenticated:
        ctx.token = core.authenticate(ctx.request.token)
        core.authorize(ctx.token, "read", ctx.request.path)
    fmt = ctx.request.query.get("format", "prometheus")
    if fmt != "prometheus":
        raise BadRequest("only format=prometheus is supported")
    if core.metrics_render is None:
        raise ServiceUnavailable("metrics are not enabled on this node")
    body, content_type = core.metrics_render()
    return Response(200, body, [(b"content-type", content_type.encode())])


ROUTES: dict[str, Route] = {
    "sys/metrics": Route({"GET": get_metrics}, auth=False, unsealed=False),
}
