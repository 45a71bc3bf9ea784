"""Demo data: realistic call history for demos and benchmarks (`careline demo generate`)."""
