"""The one error a configuration file can raise: every problem found, each naming its entry and field."""
from __future__ import annotations


class ConfigInvalid(Exception):
    """The file was refused; `problems` lists what is wrong, e.g. "practices[0] (lakeside).timezone: ..."."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems
