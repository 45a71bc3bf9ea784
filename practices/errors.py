"""Errors about practices: a configuration file refused (every problem found, each naming its entry and field),
and a practice a request names that does not exist or is not the user's."""
from __future__ import annotations


class ConfigInvalid(Exception):
    """The file was refused; `problems` lists what is wrong, e.g. "practices[0] (lakeside).timezone: ..."."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class PracticeUnknown(LookupError):
    """No practice has this slug (a list's filter, a report's choice)."""

    def __init__(self, slug: str):
        super().__init__("no practice has this slug")
        self.slug = slug


class PracticeNotYours(PermissionError):
    """The user does not answer for this practice (or may not do this with it: `description` says what)."""

    def __init__(self, slug: str, description: str = "you do not answer for this practice"):
        super().__init__(description)
        self.slug = slug
