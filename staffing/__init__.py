"""Staffing advice: how many agents each hour needs, from the practice's own calls (issue 18)."""
