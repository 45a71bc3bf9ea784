"""`python -m bench [NAME] [OPTIONS]`: run one benchmark, or every registered one when no name is given.

A benchmark is a module with `add_arguments(parser)` and `run(options) -> exit status`; register it in
BENCHMARKS with a one-line description. Modules are imported only when chosen.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys

from bench.errors import BenchError

SIGTERM_STATUS = 143  # 128 + SIGTERM, what a shell reports for a process SIGTERM ended

BENCHMARKS = {  # name -> (module, description)
    "webhooks": ("bench.webhooks", "voice webhooks under load against a floor app, on SQLite and PostgreSQL"),
    "queue": ("bench.queue", "call-queue operations (enqueue, match, remove) against a Redis round trip"),
    "metrics": ("bench.metrics", "a 30-day metrics summary with 100k then 1M calls, on SQLite and PostgreSQL"),
    "profile": ("bench.profile", "cProfile of the voice webhooks and the call-log drain, in process: where time goes"),
    "screen_pop": ("bench.screen_pop", "screen pop latency: REST redirect to the offer event at a desk's stream"),
    "staffing": ("bench.staffing", "the staffing advice (Erlang) checked by an hour of calls through the live queue"),
}

ON_REQUEST_ONLY = {"profile"}  # a diagnosis, not a measurement against a baseline: `python -m bench profile`


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Careline's benchmarks.")
    subparsers = parser.add_subparsers(dest="benchmark", metavar="NAME")
    for name, (module_name, description) in BENCHMARKS.items():
        sub = subparsers.add_parser(name, help=description, description=description)
        importlib.import_module(module_name).add_arguments(sub)
    return parser


def _stop_on_sigterm(_signum, _frame) -> None:
    raise SystemExit(SIGTERM_STATUS)  # unwinds like Ctrl-C, so every benchmark stops what it started


def main(argv: list[str]) -> int:
    """Run the named benchmark, or all of them in turn with their defaults."""
    parser = _parser()
    options = parser.parse_args(argv)
    chosen = [options] if options.benchmark else [parser.parse_args([name]) for name in BENCHMARKS
                                                  if name not in ON_REQUEST_ONLY]
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    status = 0
    try:
        for benchmark_options in chosen:
            module = importlib.import_module(BENCHMARKS[benchmark_options.benchmark][0])
            status = max(status, module.run(benchmark_options))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
    except SystemExit as exc:
        if exc.code == SIGTERM_STATUS:
            print("bench: terminated; everything it started has been stopped", file=sys.stderr)
        raise
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
