"""`AuditError`: an audit device could not record an entry (HTTP 500, fail closed)."""

from __future__ import annotations

from strongbox.errors import InternalError


class AuditError(InternalError):
    """An audit device failed, or no audit device could record a request.

    Messages name the device, the file and the OS error text; never entry content.
    """
