"""The services of each Careline server the browser tests started (the conftest's `serve`), by base URL.

A module of its own: pytest imports the conftest once as a conftest and the tests import it again by its dotted
name (two module objects); this module is imported by one name only, so both see one registry. `sign_in` reads
a person's second-factor code with the services of the server it signs in to.
"""
from __future__ import annotations

SERVED: dict[str, object] = {}
