"""A trained PointNet out of the project: ONNX and ``torch.export`` programs of the inference graph.

The exported graph is eval-mode PointNet with every BatchNorm folded into the layer before it
(``W' = diag(s) W``, ``b' = s (b - mean) + beta``, computed in float64) and dropout gone; the
``linear`` form's plain ops (one matrix product per layer, a max over points), whatever variant
was trained, since checkpoints load into any variant. It maps ``points (B, N, C) -> logits (B, K)``
with the batch size ``B`` and point count ``N`` dynamic. The file records the class names and the
run's preprocessing (ONNX: ``metadata_props``; ExportedProgram: the ``pointnet.json`` extra file),
so a consumer without this project knows how to feed it and what the logits mean.
"""
from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from pointnet.data.datasets.inputs import Preprocessing
from pointnet.nn.fused import fold_batch_norm
from pointnet.nn.model import FullyConnected, PointNet
from pointnet.nn.shared_mlp import SharedLayer

METADATA_FILE = "pointnet.json"


class LogitsOnly(nn.Module):
    """``points (B, N, C) -> logits (B, K)``: the classifier output alone, as exported."""

    def __init__(self, model: PointNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.model(points)[0]


def _fold(fc: nn.Linear | nn.Conv1d, bn: nn.BatchNorm1d) -> None:
    weight, bias = fold_batch_norm(fc.weight.flatten(1), fc.bias, bn)
    with torch.no_grad():
        fc.weight.copy_(weight.view_as(fc.weight))
        fc.bias = nn.Parameter(bias)


def inference_model(model: PointNet) -> LogitsOnly:
    """A float32 copy of ``model`` in the ``linear`` plain form, eval mode, BatchNorm folded away."""
    args: dict[str, Any] = {"num_classes": model.classifier.out_features,
                            "input_transform": model.input_tnet is not None,
                            "feature_transform": model.feature_tnet is not None}
    in_channels = getattr(model, "in_channels", None)
    if in_channels is not None:
        args["in_channels"] = in_channels
    plain = PointNet(**args, shared_mlp="linear", fast=False).to(torch.float64)
    plain.load_state_dict(copy.deepcopy(model.state_dict()), strict=True)
    plain.eval()
    for module in plain.modules():
        if isinstance(module, SharedLayer) and module.bn is not None:
            _fold(module.fc, module.bn)
            module.bn = None
        elif isinstance(module, FullyConnected) and isinstance(module.bn, nn.BatchNorm1d):
            _fold(module.fc, module.bn)
            module.bn = nn.Identity()
    return LogitsOnly(plain.to(torch.float32)).eval()


def metadata(classes: list[str], prep: Preprocessing, variant: str) -> dict[str, str]:
    """What a consumer needs besides the graph, as strings (ONNX metadata values are strings)."""
    return {"classes": json.dumps(list(classes)), "preprocessing": json.dumps(asdict(prep)),
            "trained_variant": variant, "input": "points (B, N, C) float32, z up, centred, unit sphere",
            "output": "logits (B, K)"}


def _example(prep: Preprocessing) -> tuple[torch.Tensor]:
    return (torch.randn(2, prep.num_points, prep.channels),)


def _dynamic_shapes() -> dict[str, dict[int, Any]]:
    return {"points": {0: torch.export.Dim("batch"), 1: torch.export.Dim("points")}}


def export_onnx(model: PointNet, classes: list[str], prep: Preprocessing, path: Path) -> Path:
    """One self-contained ``.onnx`` file (weights inside), input ``points``, output ``logits``."""
    import onnx  # the optional ``export`` extra (with onnxscript, which torch's exporter uses)

    with torch.no_grad():
        program = torch.onnx.export(inference_model(model), _example(prep), dynamo=True, external_data=False,
                                    input_names=["points"], output_names=["logits"], dynamic_shapes=_dynamic_shapes())
    assert program is not None  # dynamo=True always returns the program
    proto = program.model_proto
    for key, value in metadata(classes, prep, model.shared_mlp).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def export_program(model: PointNet, classes: list[str], prep: Preprocessing, path: Path) -> Path:
    """A ``torch.export`` ExportedProgram (``torch.export.load(path).module()(points)``)."""
    with torch.no_grad():
        program = torch.export.export(inference_model(model), _example(prep), dynamic_shapes=_dynamic_shapes())
    extra = {METADATA_FILE: json.dumps(metadata(classes, prep, model.shared_mlp))}
    torch.export.save(program, str(path), extra_files=extra)
    return path


EXPORT_FORMATS: Mapping[str, Callable[[PointNet, list[str], Preprocessing, Path], Path]] = MappingProxyType({
    "onnx": export_onnx,
    "exported_program": export_program,
})
EXPORT_SUFFIXES: Mapping[str, str] = MappingProxyType({"onnx": ".onnx", "exported_program": ".pt2"})


def export_model(model: PointNet, classes: list[str], prep: Preprocessing, fmt: str,
                 path: str | os.PathLike) -> Path:
    """Write ``model`` as ``fmt`` (one of ``EXPORT_FORMATS``) to ``path``; returns the path."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {sorted(EXPORT_FORMATS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return EXPORT_FORMATS[fmt](model, list(classes), prep, path)
