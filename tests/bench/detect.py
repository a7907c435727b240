"""Detection-engine benchmark (`make bench` runs it after the register benchmark): issue 3's quality and
performance measurements, printed as Markdown tables.

- Quality (`detect_quality`): registered-secret recall by excerpt length and edit, precision on unrelated
  same-domain text, and the same for alternative (k, w) settings and rules with their index size.
- Speed (`detect_speed`): a 4 KB prompt against 100,000 registered documents (p50/p99), throughput of
  `Engine.inspect` on already-extracted text (whole engine and each detector), index size per 5 KB
  document, registering throughput, and peers (`re`, detect-secrets) over the same input.

Data: ../shared/corpus/python-docs-ja beside the repository, split by a fixed seed (`detect_data`).
`BENCH_PROBES` sets the excerpts per language and length (default 300; the quality section runs
them in six versions and three (k, w) settings); `BENCH_ONLY=quality` or `speed` runs one half.
About 2 minutes on the 2-core machine.
"""

from __future__ import annotations

import os
import sys
import time

from tests.bench import detect_quality, detect_speed
from tests.bench.detect_data import CORPUS, load_split, machine_reference

PROBES = int(os.environ.get("BENCH_PROBES", "300"))


def main() -> int:
    if not CORPUS.exists():
        print(f"corpus not found at {CORPUS}; detection benchmark skipped")
        return 0
    start = time.perf_counter()
    split = load_split()
    print("\n## Detection engine\n")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; corpus {CORPUS.name}")
    print(machine_reference())
    if os.environ.get("BENCH_ONLY") != "speed":
        detect_quality.run(split, PROBES)
    if os.environ.get("BENCH_ONLY") != "quality":
        detect_speed.run(split)
    print(f"\n(detection benchmark: {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
