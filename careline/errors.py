"""Errors of the application core that the web layer turns into responses."""


class DependencyDown(RuntimeError):
    """Redis or the database did not answer."""
