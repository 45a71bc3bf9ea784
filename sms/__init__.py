"""Text messages: the receipts callers get, the pages providers get, STOP and START, and their sending."""
