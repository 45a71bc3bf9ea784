"""Errors of paging."""
from __future__ import annotations


class PageNotFound(LookupError):
    """No page has this id."""
