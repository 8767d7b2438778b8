"""sys/loglevel (sudo): read or change this node's log level at run time.

Per node, not replicated: a level is a debugging aid on the node being looked at, and
a restart goes back to the configured `log_level`. Changes the `strongbox` logger
hierarchy and the access log together (`Core.on_log_level` hooks). Vault's newer
`sys/loggers` is the same idea; this is the path the seeds ask for.
"""

from __future__ import annotations

import logging

from strongbox.backend.context import Context, Route
from strongbox.backend.response import Response, no_content, ok
from strongbox.errors import BadRequest
from strongbox.obs.logs import LEVELS, LOGGER_NAME


def _current() -> str:
    level = logging.getLogger(LOGGER_NAME).getEffectiveLevel()
    return next((name for name, value in LEVELS.items() if value == level),
                logging.getLevelName(level).lower())


async def read_level(ctx: Context) -> Response:
    return ok(ctx.request.request_id, {"level": _current()})


async def write_level(ctx: Context) -> Response:
    body = ctx.request.json_body({"level": (str,)}, required=("level",))
    level = body["level"].lower()
    if level == "warn":
        level = "warning"
    if level not in LEVELS:
        raise BadRequest(f"'level' must be one of {', '.join(LEVELS)}")
    logging.getLogger(LOGGER_NAME).setLevel(LEVELS[level])
    for hook in ctx.core.on_log_level:
        hook(level)
    logging.getLogger("strongbox.api").warning("log level changed to %s on this node", level)
    return no_content()


ROUTES: dict[str, Route] = {
    "sys/loglevel": Route({"GET": read_level, "PUT": write_level}, sudo=True),
}
