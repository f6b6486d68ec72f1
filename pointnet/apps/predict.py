"""``pointnet-predict checkpoint=PATH 'files=[a.off,b.npy]'``: top-k classes with probabilities per file.

Meshes (``.off .obj .ply .stl``) are read and sampled exactly as data set meshes are (area-weighted,
z up, unit sphere); point files (``.npy``, or text ``.txt .xyz .csv .pts`` with ``x y z[ ...]`` per
line, comma or space separated) are rotated to z up and normalised the same way.
"""
from __future__ import annotations

if __name__ == "__main__":  # python -m: passive OpenMP waiting, set before torch loads (pointnet.apps.openmp)
    from pointnet.apps.openmp import quiet_openmp
    quiet_openmp()

import json
import logging
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

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
        raw = np.load(path) if suffix == ".npy" else np.loadtxt(path, delimiter="," if suffix == ".csv" else None,
                                                                 ndmin=2)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read points ({exc})") from exc
    if raw.ndim != 2 or raw.shape[1] < 3 or len(raw) == 0 or not np.isfinite(raw[:, :3]).all():
        raise ValueError(f"{path}: expected an (N, 3+) array of finite numbers, got shape {raw.shape}")
    points = raw[:, :3].astype(np.float32)
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
    results = []
    for name in cfg.files:
        path = Path(name)
        try:
            points = torch.from_numpy(load_points(path, data.num_points, data.up_axis, cfg.seed))
        except (MeshError, ValueError, OSError) as exc:
            log.error("skipped %s", exc)
            results.append({"file": str(path), "error": str(exc)})
            continue
        logits, _ = predict_logits(model, points[None], cfg.eval.votes)  # (1, K)
        ranked = top_k(logits[0].softmax(dim=0), state["classes"], cfg.eval.top_k)
        results.append({"file": str(path), "top_k": ranked})
        print(f"{path}: " + ", ".join(f"{c} {p:.3f}" for c, p in ranked))
    Path(out_dir, "predictions.json").write_text(json.dumps(results, indent=2))
    return results


@hydra.main(version_base="1.3", config_path="pkg://pointnet.configs", config_name="predict")
def main(cfg: DictConfig) -> None:
    predict_files(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()
