"""``pointnet-eval eval.corruptions=...``: accuracy under ModelNet-C's corruptions, end to end on a tiny run, and
the values refused before any work."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pointnet import PointNet
from pointnet.apps import common as common_module
from pointnet.apps import evaluate as evaluate_module
from pointnet.apps.config import ConfigError
from pointnet.apps.evaluate import evaluate_checkpoint
from pointnet.data import PointCloudDataset, PointSet
from pointnet.data.pipeline.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from pointnet.reporting.corruptions import corruption_markdown, corruption_summary, sweep_report
from pointnet.training import robustness
from pointnet.training.metrics import ConfusionMatrix
from pointnet.training.robustness import corruption_confusions
from tests.helpers import compose, tiny_overrides
from tests.test_apps import cli


@pytest.fixture()
def run_copy(trained_run, tmp_path):
    """A writable copy of the tiny trained run (eval writes its card and TensorBoard events there)."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


def test_eval_corruptions_all_writes_table_json_plot_board_and_card(run_copy, tmp_path):
    out = tmp_path / "eval"
    cli("pointnet-eval", f"checkpoint={run_copy / 'last.pt'}", "eval.corruptions=all", f"hydra.run.dir={out}",
        "runtime.threads=1", cwd=tmp_path)
    summary = json.loads((out / "corruptions.json").read_text())
    evaluation = json.loads((out / "eval.json").read_text())
    assert summary == evaluation["corruptions"] and list(summary["kinds"]) == list(CORRUPTIONS)
    assert summary["clean_acc"] == pytest.approx(evaluation["acc"])  # the same clouds, one pass each
    every = [acc for kind in summary["kinds"].values() for acc in kind["acc"]]
    assert len(every) == 35 and summary["mean_acc"] == pytest.approx(sum(every) / 35)
    assert summary["mean_drop"] == pytest.approx(summary["clean_acc"] - summary["mean_acc"])
    table = (out / "corruptions.md").read_text()
    assert table == corruption_markdown(summary) and table.count("\n| ") == 9  # the header, a row per kind, the mean
    assert (out / "corruptions.png").read_bytes()[:4] == b"\x89PNG"
    card = (run_copy / "MODEL_CARD.md").read_text()
    assert "- under corruption (7 ModelNet-C kind(s) x 5 severities, corruption seed 0, one pass): mean accuracy " \
           f"**{100 * summary['mean_acc']:.1f}%**" in card
    assert "../eval/corruptions.md" in card
    board = EventAccumulator(str(run_copy / "tensorboard" / "eval")).Reload()
    scalars = set(board.Tags()["scalars"])
    assert {f"corruption/{k}/severity_{s}" for k in CORRUPTIONS for s in SEVERITIES} <= scalars
    assert {"corruption/mean_acc", "corruption/clean_acc", "corruption/mean_drop", "corruption/jitter/mean"} <= scalars
    assert board.Scalars("corruption/mean_acc")[0].value == pytest.approx(summary["mean_acc"])
    assert "corruption/table/text_summary" in board.Tags()["tensors"]


def test_a_comma_list_and_a_seed_reach_the_evaluation(trained_run, tmp_path):
    cfg = compose("eval", [f"checkpoint={trained_run / 'last.pt'}", "runtime.threads=1",
                           "eval.corruptions='rotate,drop_local'", "eval.corruption_seed=5"])
    summary = evaluate_checkpoint(cfg, tmp_path, overrides=[])["corruptions"]
    assert list(summary["kinds"]) == ["rotate", "drop_local"] and summary["seed"] == 5


def tiny_set(m: int = 12, n: int = 64) -> PointSet:
    points = torch.randn(m, n, 3, generator=torch.Generator().manual_seed(0)) * 0.3
    return PointSet(points.numpy(), [i % 3 for i in range(m)], ["a", "b", "c"], [f"s{i}" for i in range(m)])


def test_every_cloud_is_counted_once_per_kind_and_severity_in_chunks(monkeypatch):
    monkeypatch.setattr(robustness, "CHUNK", 5)  # 12 clouds: chunks of 5, 5, 2
    dataset = PointCloudDataset(tiny_set(), 32, train=False)
    clean, corrupted = corruption_confusions(PointNet(3), dataset, ["add_local", "scale"], seed=0,
                                             device=torch.device("cpu"), batch_size=4, progress=False)
    assert clean.total == 12 and all(cm.total == 12 for cms in corrupted.values() for cm in cms)
    summary = corruption_summary(clean, corrupted, seed=0)
    assert summary["kinds"]["scale"]["acc"] == [cm.accuracy for cm in corrupted["scale"]]


def corrupted_clouds(monkeypatch, kinds: list[str], batch_size: int, seed: int = 0) -> dict:
    """The clouds ``corruption_confusions`` feeds the model, per (kind, severity), all chunks in order."""
    seen: dict = {}

    def recording(points, kind, severity, generator):
        out = corrupt(points, kind, severity, generator)
        seen.setdefault((kind, severity), []).append(out)
        return out

    monkeypatch.setattr(robustness, "corrupt", recording)
    monkeypatch.setattr(robustness, "CHUNK", 5)
    corruption_confusions(PointNet(3), PointCloudDataset(tiny_set(), 32, train=False), kinds, seed=seed,
                          device=torch.device("cpu"), batch_size=batch_size, progress=False)
    return {key: torch.cat(chunks) for key, chunks in seen.items()}


def test_corrupted_clouds_depend_on_the_seed_only_not_the_batch_size_or_other_kinds(monkeypatch):
    every = corrupted_clouds(monkeypatch, list(CORRUPTIONS), batch_size=3)
    some = corrupted_clouds(monkeypatch, ["rotate", "drop_local"], batch_size=64)
    assert len(every) == 35 and set(some) == {(k, s) for k in ("rotate", "drop_local") for s in SEVERITIES}
    for key, clouds in some.items():
        assert torch.equal(clouds, every[key])
    other = corrupted_clouds(monkeypatch, ["rotate"], batch_size=3, seed=1)
    assert not torch.equal(other[("rotate", 1)], every[("rotate", 1)])


def test_summary_means_and_drops():
    def cm(correct: int) -> ConfusionMatrix:  # 4 shapes of one class, ``correct`` of them right
        return ConfusionMatrix(torch.tensor([[correct, 4 - correct], [0, 0]]))

    summary = corruption_summary(cm(4), {"jitter": [cm(4), cm(3), cm(2), cm(1), cm(0)], "rotate": [cm(4)] * 5}, 3)
    assert summary["kinds"]["jitter"] == {"acc": [1, 0.75, 0.5, 0.25, 0], "mean_acc": 0.5, "drop": 0.5}
    assert (summary["mean_acc"], summary["mean_drop"], summary["seed"]) == (0.75, 0.25, 3)
    assert "| jitter | 100.0 | 75.0 | 50.0 | 25.0 | 0.0 | 50.0 | 50.0 |" in corruption_markdown(summary)


@pytest.mark.parametrize("value", ["jiter", "all,rotate", "rotate,rotate", "1"])
def test_unknown_kinds_are_refused_naming_the_key_before_any_work(trained_run, tmp_path, monkeypatch, value):
    def no_work(*args, **kwargs):
        raise AssertionError("data prepared before the config was checked")

    monkeypatch.setattr(evaluate_module, "prepare_data", no_work)
    monkeypatch.setattr(common_module, "model_from_checkpoint", no_work)
    cfg = compose("eval", [f"checkpoint={trained_run / 'last.pt'}", f"eval.corruptions='{value}'"])
    with pytest.raises(ConfigError, match="^eval.corruptions: "):
        evaluate_checkpoint(cfg, tmp_path, overrides=[])
    with pytest.raises(ConfigError, match="^eval.corruption_seed: "):
        evaluate_checkpoint(compose("eval", [f"checkpoint={trained_run / 'last.pt'}", "eval.corruption_seed=-1"]),
                            tmp_path, overrides=[])


def test_a_model_reading_normals_is_refused_naming_the_key(tiny_data, tmp_path, monkeypatch):
    from pointnet.apps.train import train

    run = tmp_path / "outputs" / "day" / "normals"
    run.mkdir(parents=True)
    train(compose(overrides=tiny_overrides(tiny_data, "data.normals=true", "train.epochs=1")), run_dir=run)
    monkeypatch.setattr(evaluate_module, "prepare_data", lambda *a, **k: pytest.fail("data prepared"))
    cfg = compose("eval", [f"checkpoint={run / 'last.pt'}", "eval.corruptions=jitter"])
    with pytest.raises(ConfigError, match="^eval.corruptions: .*normals"):
        evaluate_checkpoint(cfg, tmp_path / "eval", overrides=[])


def fake_job(sweep: Path, name: str, overrides: list[str], mean_acc: float | None) -> None:
    """A finished sweep job (overrides, metrics) with, unless ``mean_acc`` is None, its corruption summary."""
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (job / "metrics.json").write_text(json.dumps({"test/acc": 0.9}))
    if mean_acc is not None:
        (job / "eval_corruptions").mkdir()
        summary = {"clean_acc": 0.9, "mean_acc": mean_acc, "mean_drop": 0.9 - mean_acc,
                   "kinds": {"jitter": {"mean_acc": mean_acc}, "rotate": {"mean_acc": 0.5}}}
        (job / "eval_corruptions" / "corruptions.json").write_text(json.dumps(summary))


def test_sweep_report_gives_mean_and_std_over_seeds_per_recipe(tmp_path):
    for num, (recipe, seed, acc) in enumerate([("paper", 0, 0.6), ("paper", 1, 0.7), ("robust", 0, 0.8),
                                               ("robust", 1, None)]):
        fake_job(tmp_path, f"{num}_experiment={recipe},seed={seed}", [f"experiment={recipe}", f"seed={seed}"], acc)
    text = sweep_report(tmp_path)
    assert (tmp_path / "robustness.md").read_text() == text
    assert "| experiment=paper | 2 | 90.0 ± 0.0 | 65.0 ± 7.1 | 25.0 ± 7.1 | 65.0 ± 7.1 | 50.0 ± 0.0 |" in text
    assert "| experiment=robust | 1 | 90.0 ± 0.0 | 80.0 ± 0.0 | 10.0 ± 0.0 | 80.0 ± 0.0 | 50.0 ± 0.0 |" in text
    with pytest.raises(FileNotFoundError, match="corruptions.json"):
        sweep_report(tmp_path, eval_dir="elsewhere")
    for job in tmp_path.glob("*_experiment=*"):  # the validation tables beside the test ones
        if (job / "eval_corruptions").is_dir():
            (job / "eval_corruptions").rename(job / "eval_val_corruptions")
    assert sweep_report(tmp_path, "eval_val_corruptions", "robustness_val.md") == text
    assert (tmp_path / "robustness_val.md").read_text() == text
