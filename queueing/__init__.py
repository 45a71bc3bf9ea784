"""The live-agent call queue (Redis-backed). Built by the queue issue; "speak with someone" takes a message until then."""
