"""How long the prod program takes to build under the engine's mocks, as served models grow.

    uv run python bench/program.py [--models 1 10 50] [--repeat 3]

Runs the real program (`infra.program.declare`, as `infra/__main__.py` does) of
the prod stack (its own config plus made-up secrets) with 1, 10 and 50 served
models, each model its own serving
Deployment, Service and PodDisruptionBudget, and the dashboards, alert rules
and Grafana content that come with them. Prints the best of `--repeat` runs
per size, the resources registered, and the time per model added. Target:
roughly linear growth, 50 models under 20 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.base import resources
from tests.program import run_program, stack_config


def models(n: int) -> str:
    return json.dumps(
        {
            "models": [
                {
                    "name": f"model-{i:03d}",
                    "replicas": 3,
                    "resources": resources("500m", "1Gi", "2Gi"),
                }
                for i in range(n)
            ]
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config, secrets = stack_config("prod")
    results: dict[int, tuple[float, int]] = {}
    run_program("prod", config, secrets)  # warm-up: first imports of the providers' SDKs
    print(f"{'models':>7}{'resources':>11}{'seconds':>10}")
    for n in args.models:
        best = float("inf")
        count = 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            program = run_program("prod", {**config, "mlops:serving": models(n)}, secrets)
            best = min(best, time.perf_counter() - start)
            count = len(program.mocks.resources)
        results[n] = (best, count)
        print(f"{n:>7}{count:>11}{best:>10.2f}")
    sizes = sorted(results)
    small, large = sizes[0], sizes[-1]
    growth = results[large][0] / results[small][0]
    per_model = (results[large][0] - results[small][0]) / (large - small)

    per_resource = results[large][0] / results[large][1] * 1000
    print(
        f"growth {large}/{small} models: {growth:.1f}x the time for {large / small:.0f}x the models "
        f"(fixed cost {results[small][0] - per_model * small:.2f} s)"
    )
    print(
        f"per added model: {per_model * 1000:.0f} ms; per resource at {large}: {per_resource:.2f} ms"
    )
    print(f"{large} models: {results[large][0]:.2f} s (target < 20 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
