"""How much `import lrctl` costs relative to `import numpy`, in fresh processes.

Goal (issue: foundation): at most 2x. Each import runs in a new interpreter; the figure is the
ratio of the medians over repeated runs, with the interpreter's own start-up subtracted.

    python benchmarks/bench_import.py [--repeats 15]
"""

import argparse
import statistics
import subprocess
import sys
import time


def run(code: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args()
    run("import numpy, lrctl", 2)  # warm the file cache and any bytecode compilation
    base = run("pass", args.repeats)
    numpy_t = run("import numpy", args.repeats) - base
    lrctl_t = run("import lrctl", args.repeats) - base
    print(f"interpreter start-up: {base * 1e3:7.1f} ms (subtracted)")
    print(f"import numpy:         {numpy_t * 1e3:7.1f} ms")
    print(f"import lrctl:         {lrctl_t * 1e3:7.1f} ms")
    print(f"ratio lrctl/numpy:    {lrctl_t / numpy_t:7.2f}  (goal: <= 2)")


if __name__ == "__main__":
    main()
