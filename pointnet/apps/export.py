"""``pointnet-export checkpoint=PATH export.format=onnx|exported_program [export.path=FILE]``.

Writes the checkpoint's inference graph (``pointnet.inference.export``) beside the checkpoint
(``best.onnx`` / ``best.pt2``) unless ``export.path`` names another file, and prints where it went.
"""
from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pointnet.apps.cli import app_main
from pointnet.apps.config import validate_export
from pointnet.apps.schema import register_configs
from pointnet.inference.classifier import Classifier
from pointnet.inference.export import EXPORT_SUFFIXES, export_model

log = logging.getLogger(__name__)
register_configs()


def export_checkpoint(cfg: DictConfig) -> Path:
    """Export ``cfg.checkpoint`` as ``cfg.export.format``; returns the written file."""
    validate_export(cfg)
    checkpoint = Path(cfg.checkpoint)
    path = Path(cfg.export.path) if cfg.export.path else checkpoint.with_suffix(EXPORT_SUFFIXES[cfg.export.format])
    classifier = Classifier.from_checkpoint(checkpoint)
    written = export_model(classifier.model, classifier.class_names, classifier.preprocessing, cfg.export.format,
                           path)
    log.info("exported %s (%s) to %s", checkpoint, cfg.export.format, written)
    return written


@hydra.main(version_base="1.3", config_path="pkg://pointnet.configs", config_name="export")
@app_main("export")
def main(cfg: DictConfig) -> None:
    print(export_checkpoint(cfg))


if __name__ == "__main__":
    main()
