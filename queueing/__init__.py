"""The live-agent call queue: one queue per practice and the agents' state, in Redis (`queueing.store`), and
the view of it the JSON API shows (`queueing.overview`).

The call flow does not use it yet: "speak with someone" still takes a message.
"""
