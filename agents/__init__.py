"""Agents' working state: what they set (available, paused, offline), the live state the call queue keeps
for them, and the history of every change in the database (`agents.history`), for the metrics."""
