"""What Careline's web entry points (`api/`, `console/`, `webhooks/`) share: the one table of domain errors
as answers (`web/problems.py`). Only entry points import it; the flows below never do."""
