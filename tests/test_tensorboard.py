"""What a run writes to TensorBoard, read back with TensorBoard's own reader and its HTTP server."""
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.helpers import free_port


def test_event_files_hold_the_documented_tags_and_values(trained_run):
    acc = EventAccumulator(str(trained_run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    expected = {"train/loss", "train/reg_loss", "train/acc", "val/loss", "val/acc", "val/mean_class_acc",
                "schedule/lr", "schedule/bn_momentum", "schedule/epoch", "perf/samples_per_s", "perf/data_share",
                "train/step_loss", "test/acc"}
    assert expected <= tags, expected - tags
    history = json.loads((trained_run / "metrics.json").read_text())["history"]
    assert [round(e.value, 5) for e in acc.Scalars("val/acc")] == [round(r["val/acc"], 5) for r in history]
    assert [e.value for e in acc.Scalars("schedule/bn_momentum")] == [0.5, 0.5]
    assert "test/confusion_matrix" in acc.Tags()["images"]
    assert any(t.startswith("test/clouds/") for t in acc.Tags()["tensors"]), acc.Tags()["tensors"]


def test_hparams_are_recorded_in_the_same_run(trained_run):
    acc = EventAccumulator(str(trained_run / "tensorboard"))
    acc.Reload()
    plugins = acc.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in plugins and "_hparams_/experiment" in plugins
    assert not any(t.startswith("hparam/") for t in acc.Tags()["scalars"])  # metrics are the run's own tags


@contextmanager
def tensorboard_server(logdir):
    """A real ``tensorboard`` serving ``logdir``; yields ``get(path, body=None)`` that waits for it to answer."""
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "tensorboard"), "--logdir", str(logdir), "--host", "127.0.0.1",
         "--port", str(port), "--load_fast", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def get(path, body=None, deadline_s=60):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "X-XSRF-Protected": "1"}
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
                with urllib.request.urlopen(request, timeout=5) as response:
                    return json.loads(response.read())
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"tensorboard did not answer {path} within {deadline_s} s")
                time.sleep(0.5)

    try:
        yield get
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_real_tensorboard_server_serves_a_scalar(trained_run):
    with tensorboard_server(trained_run) as get:
        query = urllib.parse.urlencode({"run": "tensorboard", "tag": "val/acc"})
        body = get(f"/data/plugin/scalars/scalars?{query}")
        history = json.loads((trained_run / "metrics.json").read_text())["history"]
        assert [round(v, 5) for _, _, v in body] == [round(r["val/acc"], 5) for r in history]


def test_hparams_tab_shows_typed_settings_with_the_runs_own_val_and_test_curves(trained_run):
    """The HParams plugin of a real server: session values, and metrics read from the val/test scalar tags."""
    with tensorboard_server(trained_run) as get:
        experiment = get("/data/plugin/hparams/experiment", {"experimentName": ""})
        metrics = [m["name"] for m in experiment["metricInfos"]]
        columns = [{"metric": m, "order": "ORDER_UNSPECIFIED", "missingValuesFirst": False} for m in metrics]
        groups = get("/data/plugin/hparams/session_groups", {
            "experimentName": "", "colParams": columns, "startIndex": 0, "sliceSize": 10,
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]})
    (group,) = groups["sessionGroups"]
    assert group["hparams"]["train.batch_size"] == 4 and group["hparams"]["model.fast"] is True
    assert group["hparams"]["train.precision"] == "float32"
    values = {m["name"]["tag"]: m for m in group["metricValues"]}
    saved = json.loads((trained_run / "metrics.json").read_text())
    assert values["val/acc"]["value"] == pytest.approx(saved["history"][-1]["val/acc"], abs=1e-6)
    assert values["test/acc"]["value"] == pytest.approx(saved["test/acc"], abs=1e-6)
    assert values["val/acc"]["trainingStep"] == values["test/acc"]["trainingStep"] > 0  # the last step, not 0


def test_real_server_serves_clouds_pr_curves_projector_and_layout(trained_run):
    """The mesh, PR curve, projector and custom scalar plugins of a real server find what the run wrote."""
    with tensorboard_server(trained_run / "tensorboard") as get:
        meshes = get("/data/plugin/mesh/tags")["."]
        tag = next(t for t in meshes if t.startswith("test/clouds/"))
        query = urllib.parse.urlencode({"run": ".", "tag": tag, "sample": 0})
        config = json.loads(get(f"/data/plugin/mesh/meshes?{query}")[0]["config"])
        pr_tags = get("/data/plugin/pr_curves/tags")["."]
        projector_runs = get("/data/plugin/projector/runs")
        layout = get("/data/plugin/custom_scalars/layout")
    assert config["material"]["cls"] == "PointsMaterial" and "_as_" in tag
    assert any(t.startswith("val/clouds_training/") for t in meshes)
    assert len(pr_tags) == len(json.loads((trained_run / "metrics.json").read_text())["test/confusion"])
    assert projector_runs == ["."]
    assert any("global step" in c["title"] for c in layout["category"])
