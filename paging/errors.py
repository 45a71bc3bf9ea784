"""Errors of paging."""
from __future__ import annotations


class PageNotFound(LookupError):
    """No page has this id."""

    def __init__(self, page_id: int):
        super().__init__("no page has this id")
        self.page_id = page_id
