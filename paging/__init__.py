"""Paging the on-call provider about urgent after-hours messages, escalating until someone acknowledges."""
