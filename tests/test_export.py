"""``pointnet-export``: ONNX (run by the real onnxruntime) and ExportedProgram files of the inference graph,
BatchNorm folded, dynamic batch and point count, the same logits as PyTorch eval."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from pointnet import Classifier, PointNet
from pointnet.data.datasets.inputs import Preprocessing
from pointnet.inference.export import METADATA_FILE, export_model, inference_model
from tests.helpers import randomise_batchnorm

README = Path(__file__).parents[1] / "README.md"
SHAPES = [(batch, points) for batch in (1, 7) for points in (512, 1024, 2000)]
TOLERANCE = 1e-5  # float32, relative to the logits' scale


def relative_gap(got: np.ndarray, reference: torch.Tensor) -> float:
    reference = reference.double().numpy()
    return float(np.abs(got.astype(np.float64) - reference).max() / np.abs(reference).max())


@pytest.fixture(scope="module")
def classifier(trained_run):
    """The trained run's model with BatchNorm statistics moved off their tiny-run values, so folding matters."""
    clf = Classifier.from_checkpoint(trained_run / "last.pt")
    torch.manual_seed(3)
    randomise_batchnorm(clf.model, negative_scales=True)
    return clf


@pytest.fixture(scope="module")
def exported(classifier, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    return {fmt: export_model(classifier.model, classifier.class_names, classifier.preprocessing, fmt,
                              folder / f"model.{suffix}")
            for fmt, suffix in (("onnx", "onnx"), ("exported_program", "pt2"))}


def eval_logits(classifier: Classifier, points: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return classifier.model(points)[0]


def test_the_inference_graph_has_no_batchnorm_and_computes_eval_logits(classifier):
    graph = inference_model(classifier.model)
    assert not [m for m in graph.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    points = torch.randn(3, 300, 3)
    with torch.no_grad():
        assert relative_gap(graph(points).numpy(), eval_logits(classifier, points)) < TOLERANCE


@pytest.mark.parametrize("transforms", [(False, False), (True, False), (False, True)])
def test_folding_keeps_models_without_transforms_exact(transforms):
    model = PointNet(5, input_transform=transforms[0], feature_transform=transforms[1]).eval()
    randomise_batchnorm(model, negative_scales=True)
    points = torch.randn(2, 50, 3)
    with torch.no_grad():
        assert relative_gap(inference_model(model)(points).numpy(), model(points)[0]) < TOLERANCE


@pytest.mark.parametrize("batch,points", SHAPES)
def test_onnxruntime_equals_pytorch_eval(classifier, exported, batch, points):
    session = ort.InferenceSession(str(exported["onnx"]), providers=["CPUExecutionProvider"])
    cloud = torch.randn(batch, points, 3, generator=torch.Generator().manual_seed(batch * points))
    [logits] = session.run(None, {"points": cloud.numpy()})
    assert logits.shape == (batch, len(classifier.class_names))
    assert relative_gap(logits, eval_logits(classifier, cloud)) < TOLERANCE


def test_a_model_fed_normals_exports_six_input_channels_that_match_eval(tmp_path):
    torch.manual_seed(0)
    model = PointNet(4, in_channels=6).eval()
    randomise_batchnorm(model, negative_scales=True)
    prep = Preprocessing(num_points=64, normals=True)
    path = export_model(model, ["a", "b", "c", "d"], prep, "onnx", tmp_path / "normals.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", "points", 6]
    assert json.loads(session.get_modelmeta().custom_metadata_map["preprocessing"])["normals"] is True
    cloud = torch.randn(3, 100, 6, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        assert relative_gap(session.run(None, {"points": cloud.numpy()})[0], model(cloud)[0]) < TOLERANCE


def test_the_onnx_file_is_folded_dynamic_and_says_what_it_holds(classifier, exported):
    model = onnx.load(str(exported["onnx"]))
    ops = {node.op_type for node in model.graph.node}
    assert "BatchNormalization" not in ops and "ReduceMax" in ops
    [points] = model.graph.input
    dims = points.type.tensor_type.shape.dim
    assert [bool(d.dim_param) for d in dims] == [True, True, False] and dims[2].dim_value == 3
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["classes"]) == classifier.class_names
    assert json.loads(meta["preprocessing"]) == {"num_points": 32, "up_axis": "z", "normals": False}
    assert not list(exported["onnx"].parent.glob("*.data"))  # weights inside, one file


@pytest.mark.parametrize("batch,points", SHAPES)
def test_the_exported_program_reloads_and_matches(classifier, exported, batch, points):
    extra = {METADATA_FILE: ""}
    program = torch.export.load(str(exported["exported_program"]), extra_files=extra)
    assert "batch_norm" not in str(program.graph)
    assert json.loads(json.loads(extra[METADATA_FILE])["classes"]) == classifier.class_names
    cloud = torch.randn(batch, points, 3, generator=torch.Generator().manual_seed(batch + points))
    with torch.no_grad():
        logits = program.module()(cloud)
    assert relative_gap(logits.numpy(), eval_logits(classifier, cloud)) < TOLERANCE


def test_any_variant_exports_the_same_graph(trained_run, tmp_path):
    cloud = torch.randn(2, 100, 3)
    outputs = []
    for variant in ("loop", "conv1d"):
        clf = Classifier.from_checkpoint(trained_run / "last.pt", shared_mlp=variant)
        path = export_model(clf.model, clf.class_names, clf.preprocessing, "onnx", tmp_path / f"{variant}.onnx")
        outputs.append(ort.InferenceSession(str(path)).run(None, {"points": cloud.numpy()})[0])
        assert relative_gap(outputs[-1], eval_logits(clf, cloud)) < TOLERANCE
    assert np.abs(outputs[0] - outputs[1]).max() < 1e-5 * np.abs(outputs[1]).max()


def readme_snippet() -> str:
    text = README.read_text()
    match = re.search(r"<!-- onnx-snippet -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md has no <!-- onnx-snippet --> python block"
    return match.group(1)


def test_the_readme_snippet_runs_with_onnxruntime_alone(trained_run, tiny_data, tmp_path):
    """In a subprocess whose imports of pointnet (and torch) fail: the ONNX file needs neither."""
    clf = Classifier.from_checkpoint(trained_run / "last.pt")
    export_model(clf.model, clf.class_names, clf.preprocessing, "onnx", tmp_path / "model.onnx")
    cloud = np.random.default_rng(5).normal(size=(32, 3)) * 4 + 2
    np.save(tmp_path / "cloud.npy", cloud)
    guard = ("import sys\n"
             "class Refuse:\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name.split('.')[0] in ('pointnet', 'torch'):\n"
             "            raise ImportError(f'{name} must not be needed')\n"
             "sys.meta_path.insert(0, Refuse())\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", guard + readme_snippet()], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [clf.predict(cloud)[0].label]


def run_export(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pointnet.apps.export", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_cli_writes_beside_the_checkpoint_or_to_export_path(trained_run, tmp_path):
    shutil.copy(trained_run / "best.pt", tmp_path / "best.pt")
    result = run_export(f"checkpoint={tmp_path / 'best.pt'}", "export.format=exported_program", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(tmp_path / "best.pt2") and (tmp_path / "best.pt2").is_file()
    target = tmp_path / "sub" / "pointnet.onnx"
    result = run_export(f"checkpoint={tmp_path / 'best.pt'}", f"export.path={target}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ort.InferenceSession(str(target)).get_inputs()[0].name == "points"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "best.pt2", "sub"]  # no logs, no outputs/


def test_the_cli_refuses_a_bad_format_or_no_checkpoint(tmp_path):
    result = run_export("checkpoint=x.pt", "export.format=tflite", cwd=tmp_path)
    assert result.returncode != 0 and "export.format: unknown value 'tflite'" in result.stderr
    result = run_export(cwd=tmp_path)
    assert result.returncode != 0 and "checkpoint: required" in result.stderr
