"""The audit trail's errors."""
from __future__ import annotations


class AuditError(Exception):
    """Base of the audit trail's errors."""


class AuditQueryInvalid(AuditError):
    """A search or an export of the trail asked something that cannot be answered (a bad range or page)."""

    def __init__(self, field: str, description: str):
        super().__init__(description)
        self.field = field
        self.description = description
