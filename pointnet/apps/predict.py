"""``pointnet-predict checkpoint=PATH 'files=[a.off,b.npy]'``: top-k classes with probabilities per file.

Meshes (``.off .obj .ply .stl``) are read and sampled exactly as data set meshes are (area-weighted,
z up, unit sphere); point files (``.npy``, or text ``.txt .xyz .csv .pts`` with ``x y z[ ...]`` per
line, comma or space separated) are rotated to z up and normalised the same way.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pointnet.apps.cli import app_main
from pointnet.apps.common import open_checkpoint
from pointnet.apps.config import ConfigError, register_configs
from pointnet.data import MeshError
from pointnet.data.meshes import MESH_SUFFIXES
from pointnet.data.sampling import normalize, sample_mesh_file, to_z_up
from pointnet.training.evaluation import predict_logits

log = logging.getLogger(__name__)
register_configs()

POINT_SUFFIXES = (".npy", ".txt", ".xyz", ".csv", ".pts")


def load_points(path: Path, num_points: int, up_axis: str, seed: int = 0) -> np.ndarray:
    """``(n, 3)`` float32 points from a mesh or point file; ``n = num_points`` unless the file has fewer."""
    suffix = path.suffix.lower()
    if suffix in MESH_SUFFIXES:
        return sample_mesh_file(path, path.name, count=num_points, up_axis=up_axis, seed=seed)[:, :3]
    if suffix not in POINT_SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use one of {MESH_SUFFIXES + POINT_SUFFIXES}")
    try:
        # memory-mapped: a header claiming billions of points is refused by size, never allocated
        raw = (np.load(path, mmap_mode="r", allow_pickle=False) if suffix == ".npy"
               else np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=2))
        numeric = raw.ndim == 2 and raw.shape[1] >= 3 and len(raw) > 0 and np.issubdtype(raw.dtype, np.number)
        with np.errstate(over="ignore", invalid="ignore"):
            points = raw[:, :3].astype(np.float32) if numeric else None
    except Exception as exc:  # noqa: BLE001 - the contract: a bad point file only ever raises ValueError
        raise ValueError(f"{path}: cannot read points ({type(exc).__name__}: {exc})") from exc
    if points is None or not np.isfinite(points).all():
        raise ValueError(f"{path}: expected an (N, 3+) array of finite float32 numbers, got {raw.dtype} "
                         f"shape {raw.shape}")
    if len(points) > num_points:
        points = points[np.random.default_rng(seed).choice(len(points), num_points, replace=False)]
    return normalize(to_z_up(points, up_axis))


def top_k(probabilities: torch.Tensor, classes: list[str], k: int) -> list[tuple[str, float]]:
    values, indices = probabilities.topk(min(k, len(classes)))
    return [(classes[int(i)], float(v)) for v, i in zip(values, indices)]


def predict_files(cfg: DictConfig, out_dir: str | Path, overrides: list[str] | None = None) -> list[dict]:
    """Classify each of ``cfg.files``; a file that cannot be read is reported and skipped."""
    if not cfg.files:
        raise ConfigError("files", "give at least one file: 'files=[chair.off]'")
    model, state, data = open_checkpoint(cfg, overrides)
    device = next(model.parameters()).device
    results = []
    for name in cfg.files:
        path = Path(name)
        try:
            points = torch.from_numpy(load_points(path, data.num_points, data.up_axis, cfg.seed))
        except (MeshError, ValueError, OSError) as exc:
            log.error("skipped %s", exc)
            results.append({"file": str(path), "error": str(exc)})
            continue
        logits, _ = predict_logits(model, points[None].to(device), cfg.eval.votes)  # (1, K)
        ranked = top_k(logits[0].cpu().softmax(dim=0), state["classes"], cfg.eval.top_k)
        results.append({"file": str(path), "top_k": ranked})
        print(f"{path}: " + ", ".join(f"{c} {p:.3f}" for c, p in ranked))
    Path(out_dir, "predictions.json").write_text(json.dumps(results, indent=2))
    return results


@hydra.main(version_base="1.3", config_path="pkg://pointnet.configs", config_name="predict")
@app_main("predict")
def main(cfg: DictConfig) -> None:
    predict_files(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()
