"""``pointnet-predict checkpoint=PATH 'files=[a.off,scans/,*.npy]' predict.format=table|json|csv``.

Top-k classes with probabilities per input file, through ``pointnet.Classifier`` with the run's
preprocessing (``pointnet.data.datasets.inputs``): meshes (``.off .obj .ply .stl``) are sampled like data-set
meshes, point files (``.npy``, or text ``.txt .xyz .csv .pts``) subsampled, turned to z up and
normalised the same way. Folders (recursively) and globs are expanded.

Predictions go to stdout (``table`` for people, ``json`` lines or ``csv`` for scripts) and to
``predictions.json`` in the run dir; logs and errors go to stderr. An input that cannot be read
gets its error in its own record while the others are still predicted, and the exit status is 1.
"""
from __future__ import annotations

if __name__ == "__main__":  # python -m: the bounded OpenMP spin, set before torch loads (pointnet.runtime.openmp)
    from pointnet.runtime.openmp import quiet_openmp
    quiet_openmp()

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import hydra
from omegaconf import DictConfig

from pointnet.apps.cli import app_main
from pointnet.apps.common import open_checkpoint, output_dir
from pointnet.apps.config import validate_predict
from pointnet.apps.schema import register_configs
from pointnet.data import MeshError
from pointnet.data.datasets.inputs import Preprocessing, expand_inputs
from pointnet.inference.classifier import Classifier
from pointnet.reporting.predictions import PREDICTION_FORMATS

log = logging.getLogger(__name__)
register_configs()


def predict_one(classifier: Classifier, path: Path, top_k: int, votes: int) -> dict[str, Any]:
    """One input's record: ``path``, ``top_k`` or ``error``, and the seconds it took."""
    start = time.perf_counter()
    try:
        prediction = classifier.predict(path, top_k=top_k, votes=votes)[0]
    except (MeshError, ValueError, OSError) as exc:
        return {"path": str(path), "error": str(exc), "seconds": time.perf_counter() - start}
    ranked = [{"label": label, "probability": p} for label, p in prediction.top_k()]
    return {"path": str(path), "top_k": ranked, "seconds": time.perf_counter() - start}


def predict_files(cfg: DictConfig, out_dir: str | Path, overrides: list[str] | None = None,
                  out: TextIO | None = None, errors: TextIO | None = None) -> list[dict[str, Any]]:
    """Classify every input ``cfg.files`` names; writes records to ``out`` and ``predictions.json``."""
    out, errors = out or sys.stdout, errors or sys.stderr
    validate_predict(cfg)
    model, state, data = open_checkpoint(cfg, overrides)
    classifier = Classifier(model, state["classes"], Preprocessing(data.num_points, data.up_axis, data.normals),
                            seed=cfg.seed)
    writer = PREDICTION_FORMATS[cfg.predict.format](out, errors, cfg.eval.top_k)
    records = []
    for path in expand_inputs(list(cfg.files)):
        records.append(predict_one(classifier, path, cfg.eval.top_k, cfg.eval.votes))
        writer.write(records[-1])
    target = Path(out_dir, "predictions.json")
    target.write_text(json.dumps(records, indent=2))
    failed = sum("error" in r for r in records)
    print(f"{len(records) - failed} of {len(records)} input(s) predicted, {failed} failed; wrote {target}",
          file=errors, flush=True)
    return records


@hydra.main(version_base="1.3", config_path="pkg://pointnet.configs", config_name="predict")
@app_main("predict")
def main(cfg: DictConfig) -> None:
    records = predict_files(cfg, output_dir())
    if any("error" in r for r in records):
        sys.exit(1)


if __name__ == "__main__":
    main()
