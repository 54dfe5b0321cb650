"""Run every benchmark of this folder: each `bench/bench_*.py` with a `main(argv)`.

    python -m bench.run_all              # all of them, one after the other
    python -m bench.run_all matcher e2e  # only those whose name contains a word

Each benchmark runs with its default arguments; the exit status is 1 when any
of them failed (the others still run).
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Module names of the benchmarks, sorted."""
    return sorted(f"bench.{p.stem}" for p in HERE.glob("bench_*.py"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks selected by `argv` (all by default)."""
    words = list(sys.argv[1:] if argv is None else argv)
    failed: list[str] = []
    for name in discover():
        if words and not any(w in name for w in words):
            continue
        module = importlib.import_module(name)
        entry = getattr(module, "main", None)
        if not callable(entry):
            print(f"== {name}: no main(argv), skipped")
            continue
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        try:
            status = entry([])
        except Exception:
            traceback.print_exc()
            status = 1
        print(f"== {name}: exit {status}, {time.perf_counter() - start:.1f} s\n", flush=True)
        if status:
            failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
