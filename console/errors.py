"""Errors of the managers' console itself. The blueprint (`console/__init__.py`) renders them as HTML pages, and the
flows' errors as the one table says (`web/problems.py`)."""
from __future__ import annotations


class ConsoleError(Exception):
    """A page the console answers with `status` and a sentence for the person reading it."""

    status = 400
    error_id = "bad-request"

    def __init__(self, description: str, **details):
        super().__init__(description)
        self.description = description
        self.details = {"description": description, **details}


class NotSignedIn(ConsoleError):
    """No valid console session (never signed in, signed out, expired, or the password changed since)."""

    status = 401
    error_id = "not-signed-in"


class NotAllowed(ConsoleError):
    """Signed in, but this person may not see this (an agent; a practice not theirs)."""

    status = 403
    error_id = "forbidden"


class PracticeUnknown(ConsoleError):
    """An admin chose a practice that does not exist (others get NotAllowed: they cannot probe slugs)."""

    status = 404
    error_id = "practice-not-found"


class InvalidPeriod(ConsoleError):
    """The period of the dashboard's form is malformed or out of range; `details.field` names the field."""

    error_id = "invalid-period"


class ConsoleMisconfigured(ConsoleError):
    """A setting the console needs is missing (SECRET_KEY)."""

    status = 503
    error_id = "misconfigured"


class VendorPackageMissing(ConsoleError):
    """A browser package from npm (package.json) is not in node_modules: `make install` (npm ci) did not run."""

    status = 404
    error_id = "not-installed"


class SignInUnavailable(ConsoleError):
    """Sign-in attempts cannot be counted (Redis does not answer), so none is checked (console/throttle.py)."""

    status = 503
    error_id = "sign-in-unavailable"
