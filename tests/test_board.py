"""What a user reads in TensorBoard, read back with TensorBoard's own readers and plugin protos:
HParams, confusion matrices, point clouds, PR curves, the projector, text, the scalar layout, eval runs."""
import json
import shutil

import numpy as np
import pytest
import torch
from google.protobuf import text_format
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.mesh import metadata as mesh_metadata
from tensorboard.plugins.projector import projector_config_pb2
from tensorboard.util import tensor_util

from pointnet.apps.common import open_checkpoint, prepare_data
from pointnet.apps.run_view import swept_settings
from pointnet.data import PointCloudDataset
from pointnet.reporting.figures import confusion_figure, confusion_title
from pointnet.reporting.model_outputs import predict_dataset, stratified_indices
from pointnet.training.checkpoint import load_checkpoint
from pointnet.training.metrics import ConfusionMatrix
from tests.helpers import compose


def board(run_dir):
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_hparams_hold_every_result_setting_typed_with_metrics_from_the_scalar_tags(trained_run):
    acc = board(trained_run / "tensorboard")
    content = acc.PluginTagToContent("hparams")
    experiment = hparams_metadata.parse_experiment_plugin_data(content["_hparams_/experiment"])
    start = hparams_metadata.parse_session_start_info_plugin_data(content["_hparams_/session_start_info"])
    types = {info.name: info.type for info in experiment.hparam_infos}
    for name in ("train.precision", "data.max_per_class", "data.val_fraction", "model.dropout", "train.reg_weight",
                 "optimizer.weight_decay", "data.augment.rotate", "data.augment.jitter_sigma", "train.batch_size",
                 "train.lr", "model.shared_mlp", "seed", "global_batch"):
        assert name in types and name in start.hparams, name
    assert "data.root" not in types and "runtime.threads" not in types  # no effect on results
    assert types["train.batch_size"] == api_pb2.DATA_TYPE_FLOAT64 and start.hparams["train.batch_size"].number_value == 4
    assert start.hparams["model.fast"].bool_value is True and types["model.fast"] == api_pb2.DATA_TYPE_BOOL
    assert start.hparams["train.precision"].string_value == "float32"
    assert start.hparams["data.max_per_class"].string_value == "None"
    metrics = {(m.name.group, m.name.tag) for m in experiment.metric_infos}
    own = {tag for group, tag in metrics if group == ""}
    assert {"val/acc", "test/acc", "test/mean_class_acc"} <= own <= set(acc.Tags()["scalars"])
    assert ("eval", "eval/acc") in metrics
    assert "_hparams_/session_end_info" in content


def test_swept_settings_are_the_keys_the_overrides_set():
    names = ["model.shared_mlp", "model.dropout", "optimizer.name", "optimizer.weight_decay", "train.lr", "seed"]
    swept = swept_settings(["model/shared_mlp=loop", "optimizer=sgd", "+train.lr=0.1"], names)
    assert swept == {"model.shared_mlp", "optimizer.name", "optimizer.weight_decay", "train.lr"}


def test_confusion_matrices_for_validation_during_training_and_test_at_the_end(trained_run):
    acc = board(trained_run / "tensorboard")
    val = acc.Images("val/confusion_matrix")
    history = json.loads((trained_run / "metrics.json").read_text())["history"]
    assert len(val) == len(history) == 2  # epochs 1 and 2 (first and last; figures_every=5)
    test = acc.Images("test/confusion_matrix")
    assert len(test) == 1 and test[0].step >= val[-1].step
    assert 400 <= test[0].width <= 800 and 400 <= test[0].height <= 800
    big = confusion_figure(torch.eye(40, dtype=torch.int64), [f"class{i}" for i in range(40)], "t")
    assert max(big.get_size_inches()) * big.dpi <= 800  # 40 classes still fit the card
    assert confusion_title("val", 0.8125, 5) == "val confusion, epoch 5: accuracy 0.812"
    with Image.open(trained_run / "confusion_test.png") as image:
        assert max(image.size) <= 800


def test_clouds_are_stratified_labelled_and_legible_during_training_and_at_the_end(trained_run):
    acc = board(trained_run / "tensorboard")
    tags = acc.Tags()["tensors"]
    test_clouds = sorted(t[: -len("_VERTEX")] for t in tags if t.startswith("test/clouds/") and t.endswith("_VERTEX"))
    assert len(test_clouds) == 2  # train.num_clouds=2
    classes = [t.split("/")[-1].split("_")[1] for t in test_clouds]
    assert len(set(classes)) == 2, classes  # two classes, not two shapes of one
    for tag in test_clouds:
        true_name, predicted = tag.split("/")[-1].split("_", 1)[1].split("_as_")
        meta = acc.SummaryMetadata(f"{tag}_VERTEX")
        assert f"true **{true_name}**, predicted **{predicted}**" in meta.summary_description
        config = json.loads(mesh_metadata.parse_plugin_metadata(meta.plugin_data.content).json_config)
        assert config["material"]["size"] > 0.01
        colors = tensor_util.make_ndarray(acc.Tensors(f"{tag}_COLOR")[0].tensor_proto)[0]
        dominant = np.argmax(colors.astype(int).mean(axis=0))
        assert dominant == (1 if true_name == predicted else 0)  # green when right, red when wrong
        assert len(np.unique(colors, axis=0)) > 1  # shaded by height, not one flat colour
    during = [t for t in tags if t.startswith("val/clouds_training/") and t.endswith("_VERTEX")]
    assert len(during) == 2 and all(len(acc.Tensors(t)) == 2 for t in during)  # epochs 1 and 2
    table = tensor_util.make_ndarray(acc.Tensors("test/clouds_predictions/text_summary")[0].tensor_proto)
    assert all(name in table.item().decode() for name in classes)


def test_stratified_picks_cover_distinct_classes_and_change_with_the_seed():
    labels = np.repeat(np.arange(10), 6)
    picked = stratified_indices(labels, 4, seed=0)
    assert len({labels[i] for i in picked}) == 4
    assert stratified_indices(labels, 4, seed=1) != picked
    shown = {frozenset(labels[stratified_indices(labels, 4, seed=s)]) for s in range(10)}
    assert len(shown) > 1  # other seeds, other classes (not the same four in every run)
    assert sorted(stratified_indices(labels, 100, seed=0)) == list(range(60))


def test_pr_curves_per_class_count_the_test_shapes(trained_run):
    acc = board(trained_run / "tensorboard")
    metrics = json.loads((trained_run / "metrics.json").read_text())
    confusion = np.array(metrics["test/confusion"])
    classes = load_checkpoint(trained_run / "last.pt")["classes"]
    assert {t for t in acc.Tags()["tensors"] if t.startswith("test/pr/")} == {f"test/pr/{c}" for c in classes}
    for k, name in enumerate(classes):
        curve = tensor_util.make_ndarray(acc.Tensors(f"test/pr/{name}")[0].tensor_proto)  # (6, thresholds)
        true_positives, false_positives = curve[0, 0], curve[1, 0]
        assert true_positives == confusion[k].sum()  # threshold 0: every shape of the class is a positive
        assert true_positives + false_positives == confusion.sum()


def test_projector_holds_the_test_global_features_with_class_labels(trained_run):
    config = projector_config_pb2.ProjectorConfig()
    text_format.Parse((trained_run / "tensorboard" / "projector_config.pbtxt").read_text(), config)
    (embedding,) = config.embeddings
    assert embedding.tensor_name.startswith("test/global_features")
    features = np.loadtxt(trained_run / "tensorboard" / embedding.tensor_path, delimiter="\t")
    rows = [line.split("\t") for line in (trained_run / "tensorboard" / embedding.metadata_path).read_text().splitlines()]
    total = json.loads((trained_run / "metrics.json").read_text())["test/shapes"]
    assert features.shape == (total, 1024) and rows[0] == ["class", "predicted"] and len(rows) == total + 1
    model, state, data = open_checkpoint(compose("eval", [f"checkpoint={trained_run / 'last.pt'}"]), [])
    test_set = prepare_data(data)[1]
    expected = predict_dataset(model, PointCloudDataset(test_set, data.num_points, train=False,
                                                        seed=state["config"]["seed"]))
    np.testing.assert_allclose(features, expected.features.numpy(), rtol=1e-4, atol=1e-5)
    assert [r[0] for r in rows[1:]] == [state["classes"][int(c)] for c in test_set.labels]


def test_config_command_and_scalar_layout_are_in_the_run(trained_run):
    acc = board(trained_run / "tensorboard")
    config = tensor_util.make_ndarray(acc.Tensors("run/config/text_summary")[0].tensor_proto).item().decode()
    assert "precision: float32" in config and "shared_mlp: conv1d" in config
    assert "pointnet-train" in tensor_util.make_ndarray(
        acc.Tensors("run/command/text_summary")[0].tensor_proto).item().decode()
    layout = layout_pb2.Layout()
    layout.ParseFromString(tensor_util.make_ndarray(acc.Tensors("custom_scalars__config__")[0].tensor_proto).item())
    titles = [c.title for c in layout.category]
    assert any("global step" in t and "schedule/epoch" in t for t in titles), titles
    epochs = [e.value for e in acc.Scalars("schedule/epoch")]
    assert epochs == [1, 2]
    assert [e.step for e in acc.Scalars("schedule/epoch")] == [e.step for e in acc.Scalars("val/acc")]


def test_eval_writes_accuracy_per_class_and_confusion_beside_the_checkpoint(trained_run, tmp_path):
    from pointnet.apps.evaluate import evaluate_checkpoint

    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("eval*"))  # other tests evaluate the shared run
    result = evaluate_checkpoint(compose("eval", [f"checkpoint={run / 'last.pt'}"]), tmp_path / "out", [])
    acc = board(run / "tensorboard" / "eval")
    (point,) = acc.Scalars("eval/acc")
    assert point.value == pytest.approx(result["acc"])
    cm = ConfusionMatrix(torch.tensor(result["confusion"]))
    per_class = {t.split("/")[-1]: acc.Scalars(t)[0].value for t in acc.Tags()["scalars"] if "/class_acc/" in t}
    expected = {n: float(a) for n, a in zip(result["classes"], cm.class_accuracy) if not torch.isnan(a)}
    assert per_class == pytest.approx(expected)
    assert acc.Images("eval/confusion_matrix")
    training = board(run / "tensorboard")
    assert point.step == training.Scalars("train/loss")[-1].step  # at the checkpoint's step


def test_a_negative_figures_every_is_refused_naming_the_key(tiny_data):
    from pointnet.apps.config import ConfigError, validate

    with pytest.raises(ConfigError, match="train.figures_every"):
        validate(compose(overrides=[f"data.root={tiny_data}", "train.figures_every=-1"]))
