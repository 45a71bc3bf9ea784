"""Errors of the metrics; the JSON API turns them into responses."""
from __future__ import annotations


class MetricsError(Exception):
    """Base of the metrics' errors."""


class PracticeRequired(MetricsError):
    """No practice was named, and the viewer does not answer for exactly one."""

    def __init__(self):
        super().__init__('name the practice: practice=SLUG (an admin may ask for practice=all)')


class PracticeUnknown(MetricsError):
    """No practice has this slug."""

    def __init__(self, slug: str):
        super().__init__("no practice has this slug")
        self.slug = slug


class PracticeNotYours(MetricsError):
    """The viewer may not read this practice's metrics (or every practice's together)."""

    def __init__(self, slug: str):
        super().__init__("you may not read this practice's metrics" if slug != "all"
                         else "only an admin may read every practice's metrics together")
        self.slug = slug
