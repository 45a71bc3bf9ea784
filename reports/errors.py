"""The morning report's errors."""
from __future__ import annotations


class ReportError(Exception):
    """Base of the morning report's errors."""


class ReportPracticeUnknown(ReportError):
    """No practice has this slug."""

    def __init__(self, slug: str):
        super().__init__(f"no practice has the slug {slug!r}")
        self.slug = slug


class ReportNotConfigured(ReportError):
    """The practice has no [practices.report] table: nobody to send its report to."""

    def __init__(self, slug: str):
        super().__init__(f"practice {slug!r} has no [practices.report] (at, to) in its configuration")
        self.slug = slug


class ReportDayNotOver(ReportError):
    """The day asked for has not ended yet in the practice's zone: its report would be partial."""

    def __init__(self, day, latest):
        super().__init__(f"{day.isoformat()} has not ended yet in the practice's zone (the latest report is of "
                         f"{latest.isoformat()})")
        self.day, self.latest = day, latest


class MailNotConfigured(ReportError):
    """SMTP_URL or REPORT_FROM is not set: reports can be shown but not e-mailed."""


class ReportSendFailed(ReportError):
    """One try to send a report failed; RQ retries the job. Carries ids and an exception's class only."""
