"""What a run writes to TensorBoard, read back with TensorBoard's own reader and its HTTP server."""
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

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


def test_real_tensorboard_server_serves_a_scalar(trained_run):
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "tensorboard"), "--logdir", str(trained_run), "--host", "127.0.0.1",
         "--port", str(port), "--load_fast", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        query = urllib.parse.urlencode({"run": "tensorboard", "tag": "val/acc"})
        url = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?{query}"
        deadline, body = time.monotonic() + 60, None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = json.loads(response.read())
            except (OSError, ValueError):
                time.sleep(0.5)
        assert body is not None, "tensorboard did not answer within 60 s"
        history = json.loads((trained_run / "metrics.json").read_text())["history"]
        assert [round(v, 5) for _, _, v in body] == [round(r["val/acc"], 5) for r in history]
    finally:
        server.terminate()
        server.wait(timeout=30)
