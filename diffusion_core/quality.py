"""Sample quality as the MNIST classifier sees it: confidence, class balance, accuracy, Frechet distance."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from .samplers import ReverseProcess, SamplerConfig, initial_noise
from .schedules import NoiseSchedule


@dataclass(frozen=True)
class ClassifierReading:
    probs: np.ndarray  # (N, 10) softmax
    features: np.ndarray  # (N, D) penultimate layer, float64

    @property
    def predictions(self) -> np.ndarray:
        return self.probs.argmax(1)

    @property
    def mean_confidence(self) -> float:
        return float(self.probs.max(1).mean())

    @property
    def class_entropy(self) -> float:
        """Entropy (nats) of the predicted-class histogram; ln 10 = 2.303 when perfectly balanced."""
        counts = np.bincount(self.predictions, minlength=self.probs.shape[1]).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())


@torch.inference_mode()
def read_digits(classifier: nn.Module, x: torch.Tensor, batch_size: int = 500) -> ClassifierReading:
    """x: (N, 1, 28, 28) in [-1, 1]."""
    probs, feats = [], []
    device = next(classifier.parameters()).device
    for i in range(0, x.shape[0], batch_size):
        f = classifier.features(x[i:i + batch_size].to(device))
        probs.append(torch.softmax(classifier.head(f), dim=1).cpu())
        feats.append(f.cpu())
    return ClassifierReading(torch.cat(probs).double().numpy(), torch.cat(feats).double().numpy())


def settling_step(probs: np.ndarray) -> int:
    """probs (S, 10): the classifier's reading at each of S steps -> the first step k (0-based)
    from which the predicted class never changes again: when the digit's identity settles."""
    predictions = np.asarray(probs).argmax(-1)
    changed = np.nonzero(predictions != predictions[-1])[0]
    return int(changed[-1] + 1) if changed.size else 0


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((m + m.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2) between two feature sets (N, D)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrtm_psd(cov_a)
    cross = _sqrtm_psd(root_a @ cov_b @ root_a)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(cross))


def generate(model: nn.Module, schedule: NoiseSchedule, config: SamplerConfig, n: int, seed: int,
             labels: torch.Tensor | None = None, batch_size: int = 250, device: torch.device | str = "cpu",
             progress: Callable[[int, int], None] | None = None, process: ReverseProcess | None = None,
             shape: tuple[int, ...] = (1, 28, 28), decode: Callable | None = None) -> torch.Tensor:
    """n samples (n, 1, 28, 28) in [-1, 1], drawn in batches from one seeded generator.

    For latent diffusion: ``process`` samples latents of ``shape``, and ``decode`` makes them digits."""
    process = process or ReverseProcess(schedule, config)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        y = None if labels is None else labels[start:start + size].to(device)
        x_start = initial_noise(size, gen, shape=shape).to(device)
        x = process.sample(model, x_start, gen, labels=y, null_label=model.null_label)
        out.append((x if decode is None else decode(x)).cpu())
        if progress is not None:
            progress(start + size, n)
    return torch.cat(out)


def evaluate(model: nn.Module, classifier: nn.Module, schedule: NoiseSchedule, test_images: torch.Tensor,
             train_images: torch.Tensor, n_uncond: int = 1000, n_per_class: int = 100, steps: int = 100,
             guidances: tuple[float, ...] = (1.0, 2.0, 4.0), n_ddpm: int = 300, seed: int = 0,
             device: torch.device | str = "cpu", log: Callable[[str], None] = print, draw: Callable = generate) -> dict:
    """The quality report of the pretrained-model issue. test/train images: (N, 1, 28, 28) in [-1, 1].

    ``draw`` makes the digits, with ``generate``'s signature: latent.generate measures the latent model.

    train_images are real digits for the Frechet floor at this sample size (pass n_uncond of them).
    n_uncond = 0, an empty ``guidances`` or n_ddpm = 0 skip that part, so parts can run in parallel.
    """
    test = read_digits(classifier, test_images)
    real = read_digits(classifier, train_images)
    report: dict = {
        "classifier_on_test_digits": {"mean_confidence": round(test.mean_confidence, 4)},
        "frechet_floor_real_train_vs_test": round(frechet_distance(real.features, test.features), 3),
        "n_real_for_floor": int(real.features.shape[0]),
    }

    def unconditional(config: SamplerConfig, n: int, key: str) -> None:
        started = time.perf_counter()
        x = draw(model, schedule, config, n, seed, device=device)
        reading = read_digits(classifier, x)
        report[key] = {
            "n": n, "sampler": config.sampler, "steps": config.steps,
            "mean_confidence": round(reading.mean_confidence, 4),
            "class_entropy": round(reading.class_entropy, 4),
            "class_histogram": np.bincount(reading.predictions, minlength=10).tolist(),
            "frechet_distance": round(frechet_distance(reading.features, test.features), 3),
            "frechet_floor_same_n": round(frechet_distance(real.features[:n], test.features), 3),
            "seconds": round(time.perf_counter() - started, 1),
        }
        log(f"{key}: {report[key]}")

    if n_uncond:
        unconditional(SamplerConfig("ddim", steps=steps), n_uncond, f"unconditional_ddim{steps}")
    labels = torch.arange(10).repeat_interleave(n_per_class)
    for w in guidances:
        started = time.perf_counter()
        x = draw(model, schedule, SamplerConfig("ddim", steps=steps, guidance=w), labels.numel(), seed + 1,
                 labels=labels, device=device)
        reading = read_digits(classifier, x)
        hits = reading.predictions == labels.numpy()
        key = f"conditional_ddim{steps}_w{w:g}"
        report[key] = {
            "n": int(labels.numel()), "guidance": w, "accuracy": round(float(hits.mean()), 4),
            "per_digit_accuracy": [round(float(hits[labels.numpy() == d].mean()), 3) for d in range(10)],
            "mean_confidence": round(reading.mean_confidence, 4),
            "frechet_distance": round(frechet_distance(reading.features, test.features), 3),
            "seconds": round(time.perf_counter() - started, 1),
        }
        log(f"{key}: {report[key]}")
    if n_ddpm:
        ddpm = SamplerConfig("ddpm", steps=schedule.num_steps)
        unconditional(ddpm, n_ddpm, f"unconditional_ddpm{schedule.num_steps}")
    return report


STEPS_TABLE_SAMPLERS = ("ddim", "dpmpp2m", "heun")
STEPS_TABLE_STEPS = (10, 20, 50)


def network_calls(sampler: str, steps: int) -> int:
    """U-Net evaluations per digit (unguided): one per step, Heun two per step but one on the last."""
    return 2 * steps - 1 if sampler == "heun" else steps


def steps_table(model: nn.Module, classifier: nn.Module, schedule: NoiseSchedule, test_images: torch.Tensor,
                train_images: torch.Tensor, n_uncond: int = 500, n_per_class: int = 50, guidance: float = 2.0,
                samplers: tuple[str, ...] = STEPS_TABLE_SAMPLERS, steps: tuple[int, ...] = STEPS_TABLE_STEPS,
                seed: int = 0, device: torch.device | str = "cpu", log: Callable[[str], None] = print) -> dict:
    """What fewer steps cost, per sampler: one row per (sampler, steps), same seeds for every row.

    Unconditional digits: the classifier's mean confidence, the entropy of its class histogram (log 10 =
    2.303 is uniform) and the Frechet distance of its features to the test digits; labelled digits at
    guidance w: the accuracy. test/train images (N, 1, 28, 28) in [-1, 1]; train_images gives the floor.
    """
    test = read_digits(classifier, test_images)
    real = read_digits(classifier, train_images[:n_uncond])
    labels = torch.arange(10).repeat_interleave(n_per_class)
    rows = []
    for sampler in samplers:
        for count in steps:
            started = time.perf_counter()
            uncond = read_digits(classifier, generate(model, schedule, SamplerConfig(sampler, steps=count), n_uncond,
                                                      seed, device=device))
            cond_config = SamplerConfig(sampler, steps=count, guidance=guidance)
            cond = read_digits(classifier, generate(model, schedule, cond_config, labels.numel(), seed + 1,
                                                    labels=labels, device=device))
            rows.append({
                "sampler": sampler, "steps": count, "network_calls": network_calls(sampler, count),
                "mean_confidence": round(uncond.mean_confidence, 4), "class_entropy": round(uncond.class_entropy, 4),
                "frechet_distance": round(frechet_distance(uncond.features, test.features), 3),
                f"accuracy_w{guidance:g}": round(float((cond.predictions == labels.numpy()).mean()), 4),
                "seconds": round(time.perf_counter() - started, 1),
            })
            log(f"steps table: {rows[-1]}")
    return {"n_uncond": n_uncond, "n_conditional": int(labels.numel()), "guidance": guidance,
            "frechet_floor_same_n": round(frechet_distance(real.features, test.features), 3), "rows": rows}


# steps-table measure -> +1 if larger is better, -1 if smaller is (class entropy: log 10 is uniform, the most)
MATCH_MEASURES = {"mean_confidence": 1, "class_entropy": 1, "frechet_distance": -1, "accuracy_w2": 1}


def matches_reference(tables: list[dict], reference: tuple[str, int] = ("ddim", 50)) -> list[dict]:
    """Every (sampler, steps) of the steps tables of two or more seeds, cheapest first, with whether its
    figures match ``reference``'s within the spread of the seeds: on each measure its mean over the
    seeds is no worse than the reference's mean by more than the larger of the two rows' spreads
    (max - min over the seeds)."""
    if len(tables) < 2:
        raise ValueError(f"matching needs steps tables of two or more seeds, got {len(tables)}")
    rows: dict[tuple[str, int], list[dict]] = {}
    for table in tables:
        for row in table["rows"]:
            rows.setdefault((row["sampler"], row["steps"]), []).append(row)
    if reference not in rows:
        raise ValueError(f"the steps tables have no row for the reference {reference[0]}-{reference[1]}")
    ref = rows[reference]
    out = []
    for (sampler, steps), seeds in sorted(rows.items(), key=lambda kv: (kv[1][0]["network_calls"], kv[0][1])):
        verdicts = {}
        for measure, sign in MATCH_MEASURES.items():
            ours, theirs = [r[measure] for r in seeds], [r[measure] for r in ref]
            spread = max(max(ours) - min(ours), max(theirs) - min(theirs))
            gap = sign * (np.mean(theirs) - np.mean(ours))  # > 0: worse than the reference
            verdicts[measure] = {"mean": round(float(np.mean(ours)), 4), "worse_by": round(float(gap), 4),
                                 "spread": round(float(spread), 4), "ok": bool(gap <= spread + 1e-12)}
        out.append({"sampler": sampler, "steps": steps, "network_calls": seeds[0]["network_calls"],
                    "seeds": len(seeds), "matches": all(v["ok"] for v in verdicts.values()), "measures": verdicts})
    return out


def choose_default(tables: list[dict], reference: tuple[str, int] = ("ddim", 50),
                   samplers: tuple[str, ...] = ("ddim", "dpmpp2m")) -> tuple[str, int]:
    """The fewest steps (one network call each) of ``samplers`` whose figures match the reference's
    within the spread of the seeds, measured on two or more seeds."""
    return next((row["sampler"], row["steps"]) for row in matches_reference(tables, reference)
                if row["matches"] and row["sampler"] in samplers and row["seeds"] >= 2)
