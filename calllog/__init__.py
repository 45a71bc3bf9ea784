"""The call log: every step of every call as an append-only event, and the records built from them."""
