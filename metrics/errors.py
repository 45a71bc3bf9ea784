"""Errors of the metrics; the web layer decides what a client hears (`web/problems.py`)."""
from __future__ import annotations

from practices import errors as practices


class MetricsError(Exception):
    """Base of the metrics' errors."""


class PracticeRequired(MetricsError):
    """No practice was named, and the viewer does not answer for exactly one."""

    def __init__(self):
        super().__init__('name the practice: practice=SLUG (an admin may ask for practice=all)')


class PracticeUnknown(MetricsError, practices.PracticeUnknown):
    """No practice has this slug."""


class PracticeNotYours(MetricsError, practices.PracticeNotYours):
    """The viewer may not read this practice's metrics (or every practice's together)."""

    def __init__(self, slug: str):
        super().__init__(slug, "you may not read this practice's metrics" if slug != "all"
                         else "only an admin may read every practice's metrics together")
