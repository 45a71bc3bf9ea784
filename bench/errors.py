"""The benchmarks' one exception."""


class BenchError(RuntimeError):
    """A benchmark could not be set up or run; the message says what to look at."""
