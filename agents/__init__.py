"""Agents: who they are (`agents.users`: accounts and what each may see; `agents.tokens`: the API's tokens;
`agents.passwords`: the console's passwords) and their working state (`agents.status`: available, paused,
offline, with the live state the call queue keeps; `agents.history`: every change, for the metrics)."""
