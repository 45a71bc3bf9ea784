"""Callback tasks: every call that did not reach a person becomes a task agents work until it is done
(`callbacks.attach` opens and extends them from the call log, `callbacks.tasks` is the agents' work on them,
`callbacks.due` when each is due, `callbacks.call_claims` one owner for a task's callback call)."""
