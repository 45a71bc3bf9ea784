"""Errors about practices: a configuration file refused (every problem found, each naming its entry and field),
and a practice a request names that does not exist or is not the user's."""
from __future__ import annotations

from collections.abc import Callable


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


def practice_named(slug: str, practice_id: int | None, sees: Callable[[int], bool], sees_every: bool,
                   unknown: type[PracticeUnknown] = PracticeUnknown,
                   not_yours: type[PracticeNotYours] = PracticeNotYours) -> int:
    """The id of the practice a request names: `practice_id`, the one with `slug` (None: no practice has it),
    when the user sees it (`sees`). An unknown slug is told (`unknown`) only to one who sees every practice
    (`sees_every`); to others it is one not theirs (`not_yours`), so slugs cannot be probed. A package with errors
    of its own passes their classes (subclasses of these two)."""
    if practice_id is None and sees_every:
        raise unknown(slug)
    if practice_id is None or not sees(practice_id):
        raise not_yours(slug)
    return practice_id
