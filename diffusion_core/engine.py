"""The U-Net's inference engine: PyTorch, or the same weights exported to ONNX and run by ONNX Runtime.

Chosen by measurement (`python -m diffusion_core bench speed`, docs/benchmarks.md): on the CPU, ONNX
Runtime takes a batch-1 forward pass in about 0.6x PyTorch eager's time and gives the same noise to
~1e-5, but from batch 16 on (a 4x4 grid, or 8 guided digits) torch's convolutions are as fast or
faster, so those batches stay with torch (TORCH_FROM_BATCH). OpenVINO was measured beside it and left
out: in float32 slower than ONNX Runtime, and its default bfloat16 on this CPU moves eps by ~1e-2.
PyTorch stays for training and for CUDA.

The export is made from the shipped safetensors weights, never from a pickle, into a cache folder
($DIFFUSION_CORE_CACHE, default ~/.cache/diffusion_core), with a record beside it holding the
weights' sha256 (which must equal the model card's) and the ONNX file's own sha256. A stale,
changed or damaged export is made again. `python -m diffusion_core export` makes it ahead of time.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .pretrained import sha256_of
from .unet import UNet, UNetConfig, check_inputs

ENGINES = ("torch", "onnxruntime")
DEFAULT_ENGINE = "onnxruntime"  # on a CPU; CUDA always runs torch
TORCH_FROM_BATCH = 16  # the measured crossover (bench speed: batch_scaling): torch runs batches this large
CACHE_ENV = "DIFFUSION_CORE_CACHE"
OPSET = 20


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "diffusion_core")


class _EpsOnly(nn.Module):
    """What is exported: the network without forward()'s data-dependent input checks (check_inputs
    runs before every ONNX call instead)."""

    def __init__(self, model: UNet):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.model.eps(x, t, y)


def onnx_path(name: str, card: dict, directory: Path | None = None) -> Path:
    """Where the export of these weights lives: one file per weights sha256."""
    return (directory or cache_dir()) / f"{name}-{card['sha256'][:16]}.onnx"


def _record_path(path: Path) -> Path:
    return path.with_suffix(".json")


def export_onnx(model: UNet, card: dict, path: Path) -> dict:
    """Export ``model`` (loaded from the weights ``card`` describes) to ``path`` with a dynamic batch,
    and write its record. Written to a temporary name and renamed, so a reader never sees half a file."""
    import onnx  # noqa: F401  (the exporter needs it; imported here to fail early and clearly)

    path.parent.mkdir(parents=True, exist_ok=True)
    cpu = UNet(model.config)
    cpu.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    cpu.eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    c = model.config
    example = (torch.zeros(2, c.in_channels, 28, 28), torch.tensor([1, 500]), torch.tensor([0, c.num_classes]))
    started = time.perf_counter()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():  # the exporter's notes on dynamic shapes say nothing to a user
            warnings.simplefilter("ignore")
            torch.onnx.export(_EpsOnly(cpu), example, str(tmp), input_names=["x", "t", "y"], output_names=["eps"],
                              dynamic_shapes={"x": {0: batch}, "t": {0: batch}, "y": {0: batch}}, dynamo=True,
                              opset_version=OPSET, external_data=False, verbose=False)
        record = {"source_weights": card.get("weights_file"), "source_sha256": card["sha256"],
                  "onnx_sha256": sha256_of(tmp), "opset": OPSET, "torch": torch.__version__,
                  "export_s": round(time.perf_counter() - started, 1)}
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    record_tmp = path.with_name(f".{path.stem}.{os.getpid()}.json.tmp")
    record_tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(record_tmp, _record_path(path))
    return record


def export_is_current(path: Path, card: dict) -> bool:
    """Whether ``path`` is an intact export of the weights ``card`` describes (both sha256s check)."""
    try:
        record = json.loads(_record_path(path).read_text())
        return record["source_sha256"] == card["sha256"] and record["onnx_sha256"] == sha256_of(path)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def ensure_onnx(model: UNet, card: dict, name: str, directory: Path | None = None,
                log: Callable[[str], None] = lambda line: None) -> Path:
    """The checked export of ``model`` in the cache, made (again) when missing, stale or damaged."""
    path = onnx_path(name, card, directory)
    if not export_is_current(path, card):
        log(f"exporting {name} to ONNX at {path} ...")
        export_onnx(model, card, path)
    return path


class OnnxRuntimeUNet:
    """eps_theta(x_t, t, y) run by ONNX Runtime: called, checked and answered like the torch UNet.
    Given the torch UNet too, batches of TORCH_FROM_BATCH or more go to it, where it is as fast.

    One session per thread count, made on first use: the server changes torch's thread count for a
    run (ui/server.py model_threads) and the engine follows it. Idle threads sleep instead of spinning
    (``session.intra_op.allow_spinning`` 0): spinning ORT threads slow the torch work of the same
    process (the pages' other reruns)."""

    def __init__(self, path: Path, config: UNetConfig, torch_model: UNet | None = None):
        self.path, self.config, self.torch_model = Path(path), config, torch_model
        self._sessions: dict[int, object] = {}
        self._lock = threading.Lock()

    @property
    def null_label(self) -> int:
        return self.config.num_classes

    def session(self, threads: int):
        import onnxruntime as ort

        with self._lock:
            if threads not in self._sessions:
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.add_session_config_entry("session.inter_op.allow_spinning", "0")
                self._sessions[threads] = ort.InferenceSession(str(self.path), options,
                                                               providers=["CPUExecutionProvider"])
            return self._sessions[threads]

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x, t, y = check_inputs(self.config, x, t, y)
        if x.device.type != "cpu":
            raise ValueError(f"the ONNX Runtime engine runs on the CPU; x is on {x.device}")
        if self.torch_model is not None and x.shape[0] >= TORCH_FROM_BATCH:
            with torch.inference_mode():
                return self.torch_model.eps(x, t, y)
        feeds = {"x": np.ascontiguousarray(x.detach().numpy(), dtype=np.float32),
                 "t": t.detach().numpy().astype(np.int64), "y": y.detach().numpy().astype(np.int64)}
        (eps,) = self.session(torch.get_num_threads()).run(None, feeds)
        return torch.from_numpy(eps)


def for_sampling(model: UNet, card: dict, name: str, device: torch.device | str = "cpu",
                 engine: str = DEFAULT_ENGINE, directory: Path | None = None, fallback: bool = False):
    """The eps model to sample with: ONNX Runtime on a CPU when ``engine`` says so, else ``model`` itself.

    With ``fallback`` (the app), an export that cannot be made or loaded (a read-only home, a broken
    install) is logged and the torch model returned: slower, never broken."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "torch" or torch.device(device).type != "cpu":
        return model
    try:
        fast = OnnxRuntimeUNet(ensure_onnx(model, card, name, directory), model.config, model)
        fast.session(torch.get_num_threads())  # load now: a damaged file fails here, not mid-run
        return fast
    except Exception as exc:  # noqa: BLE001 - any failure of the optional engine leaves torch in charge
        if not fallback:
            raise
        logging.getLogger(__name__).warning("ONNX Runtime engine unavailable (%s); sampling with torch", exc)
        return model
