"""Vault's `batch_input` rules, shared by every Transit operation.

A request either carries its fields at the top level (one item) or a
`batch_input` list of items (JSON objects with the same fields, plus an optional
`reference` echoed back). Each item is processed on its own: a bad item gets
`{"error": "..."}` in `batch_results` and never fails the others. The status:

- one item (no `batch_input`): 200 with the item's fields, or its 400;
- a batch with no error: 200;
- a batch where every item failed: 400, with the `batch_results`;
- a batch with some failures: 400, or `partial_failure_response_code` when the
  request sets it (Vault's rule).

Top-level fields other than the item's own (e.g. `context` on a single
`encrypt`) are inherited by items only where Vault does so: not at all; each item
is complete by itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strongbox.backend.context import Context
from strongbox.backend.response import Response, envelope, json_response, ok
from strongbox.errors import BadRequest

MOUNT_TYPE = "transit"
MAX_ITEMS = 10_000
Item = dict[str, Any]
Operation = Callable[[Item], Awaitable[dict[str, Any]]]


def items(body: dict[str, Any]) -> list[Item] | None:
    """The batch's items, or None for a single-item request."""
    raw = body.get("batch_input")
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'batch_input' must be a non-empty JSON array of objects")
    if len(raw) > MAX_ITEMS:
        raise BadRequest(f"'batch_input' holds {len(raw)} items; at most {MAX_ITEMS} per "
                         "request")
    if not all(isinstance(item, dict) for item in raw):
        raise BadRequest("every item of 'batch_input' must be a JSON object")
    return raw


def _failure_code(body: dict[str, Any]) -> int:
    code = body.get("partial_failure_response_code", 0)
    if code in (None, ""):
        return 0
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 599:
        raise BadRequest("'partial_failure_response_code' must be an HTTP status code")
    return int(code)


async def run(ctx: Context, body: dict[str, Any], operation: Operation,
              warnings: list[str] | None = None) -> Response:
    """Answer a single or batched request with `operation(item)` per item."""
    batch = items(body)
    if batch is None:
        data = await operation(body)
        return _answer(ctx, data, 200, warnings)
    partial = _failure_code(body)
    results: list[dict[str, Any]] = []
    failed = 0
    for item in batch:
        try:
            result = await operation(item)
        except BadRequest as exc:
            result = {"error": exc.message}
            failed += 1
        if "reference" in item:
            result["reference"] = item["reference"]
        results.append(result)
    status = 200
    if failed:
        status = partial if partial and failed < len(batch) else 400
    return _answer(ctx, {"batch_results": results}, status, warnings)


def single(ctx: Context, data: dict[str, Any], warnings: list[str] | None = None) -> Response:
    """A 200 answer of an operation without items (random, hash, datakey)."""
    return _answer(ctx, data, 200, warnings)


def _answer(ctx: Context, data: dict[str, Any], status: int,
            warnings: list[str] | None) -> Response:
    if not warnings:
        return ok(ctx.request.request_id, data, MOUNT_TYPE, status=status)
    payload = envelope(ctx.request.request_id, data, MOUNT_TYPE,
                       warnings=sorted(set(warnings)))
    return json_response(status, payload)
