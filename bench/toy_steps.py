"""DDPM against flow matching on the 2-D toy: sample quality against the number of ODE steps.

    python3 bench/toy_steps.py                      # two moons, 1000 training steps, seed 0
    python3 bench/toy_steps.py --data ring --train-steps 2000

Trains the Flow matching page's two networks (the tiny DDPM denoiser and the velocity network, the
same MLP and budget) and prints, as JSON, the energy distance of 1,000 samples to 2,000 fresh data
points at 1, 2, 4, 8, 16 and 64 steps (DDIM with η = 0 for DDPM, Euler for flow matching), the floor
(1,000 more data points), and the straightness of each sampler's 64-step paths. Measures, asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from diffusion_core import flow_matching, toy  # noqa: E402

STEPS = (1, 2, 4, 8, 16, 64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=toy.DATA_NAMES, default="moons")
    parser.add_argument("--train-steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="of the noise the samplers start from")
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    report: dict = {"data": args.data, "train_steps": args.train_steps, "seed": args.seed, "steps": list(STEPS)}
    trained = {}
    for objective in ("eps", "flow"):
        config = toy.ToyConfig(data=args.data, train_steps=args.train_steps, objective=objective)
        trained[objective] = toy.train_toy(config)
        report[f"train_seconds_{objective}"] = round(trained[objective].seconds, 2)
    schedule = trained["eps"].config.build_schedule()
    started = time.perf_counter()
    _, distances, floor = flow_matching.steps_comparison(trained["eps"].model, trained["flow"].model, schedule,
                                                          args.data, args.seed, STEPS)
    report["energy_distance"] = {"ddpm_ddim": distances[0].round(3).tolist(),
                                 "flow_matching_euler": distances[1].round(3).tolist(), "floor": round(float(floor), 3)}
    start = torch.randn((300, 2), generator=torch.Generator().manual_seed(args.seed))
    report["straightness_64_steps"] = {
        "ddpm_ddim": round(flow_matching.straightness(flow_matching.ddim_flow(trained["eps"].model, schedule,
                                                                               start, 64)), 3),
        "flow_matching_euler": round(flow_matching.straightness(flow_matching.euler_flow(trained["flow"].model,
                                                                                          start, 64)), 3)}
    report["sampling_seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
