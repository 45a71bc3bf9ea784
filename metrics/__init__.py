"""Call-answer metrics for managers: facts per call, roll-ups kept current as calls end, the summary."""
