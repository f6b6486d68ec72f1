"""The Markdown of ``MODEL_CARD.md`` from its facts (``pointnet.reporting.model_card``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def _percent(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{100 * value:.1f}%"


def per_class_table(confusion: list[list[int]], classes: list[str]) -> list[str]:
    """A Markdown table: class, shapes, correct, accuracy (from ``confusion[true][predicted]``)."""
    lines = ["| class | shapes | correct | accuracy |", "|---|---:|---:|---:|"]
    for i, (name, row) in enumerate(zip(classes, confusion, strict=True)):
        total = sum(row)
        lines.append(f"| {name} | {total} | {row[i]} | {_percent(row[i] / total if total else None)} |")
    return lines


def results_section(title: str, r: dict[str, Any], extra: list[str]) -> list[str]:
    lines = [f"## {title}", "", *extra,
             f"- overall accuracy **{_percent(r['acc'])}**, mean class accuracy **{_percent(r['mean_class_acc'])}** "
             f"({r['shapes']} shapes)",
             f"- confusion matrix: [{r['image']}]({r['image']})", ""]
    return lines + per_class_table(r["confusion"], r["classes"]) + [""]


def data_section(d: dict[str, Any]) -> list[str]:
    shapes = ", ".join(f"{split} {n}" for split, n in d["shapes"].items()) or "not recorded"
    return ["## Data", "", f"- data set: `{d['name']}` at `{d['root']}`",
            f"- {len(d['classes'])} classes: {', '.join(d['classes'])}", f"- shapes per split: {shapes}",
            f"- up axis of the source: {d['up_axis']} (clouds are turned to z up); {d['num_points']} points per "
            f"cloud; normals {'on' if d['normals'] else 'off'}", ""]


def recipe_section(facts: dict[str, Any]) -> list[str]:
    lines = ["## Recipe", "", f"- variant: `{facts['variant']}`",
             f"- {facts['parameters']:,} parameters, {facts['multiply_adds'] / 1e6:.1f}M multiply-adds per sample "
             f"at {facts['data']['num_points']} points", "", "| key | value |", "|---|---|"]
    lines += [f"| `{key}` | {value} |" for key, value in facts["recipe"].items()]
    return lines + ["", "The full resolved config is in the checkpoint (`config`) and `.hydra/config.yaml`.", ""]


def test_section(facts: dict[str, Any]) -> list[str]:
    test = facts.get("test")
    if not test:
        return []
    best = []
    if "best_acc" in test:
        best = [f"- `best.pt` (picked on validation): accuracy {_percent(test['best_acc'])}, "
                f"mean class {_percent(test.get('best_mean_class_acc'))}"]
    seed = (facts.get("training") or {}).get("seed")
    title = "Test results (last epoch" + (f", seed {seed})" if seed is not None else ")")
    return results_section(title, test, best)


def evaluation_section(facts: dict[str, Any]) -> list[str]:
    ev = facts.get("evaluation")
    if not ev:
        return []
    votes = f"rotation voting over {ev['votes']} rotations about the up axis" if ev["votes"] > 1 else "no voting"
    return results_section(f"Latest evaluation ({ev['split']} split)", ev,
                           [f"- checkpoint `{ev['checkpoint']}`, {votes}", *corruption_line(ev.get("corruptions"))])


def corruption_line(c: dict[str, Any] | None) -> list[str]:
    """The summary of ``eval.corruptions`` (ModelNet-C's kinds, severities 1..5), if it was evaluated."""
    if not c:
        return []
    return [f"- under corruption ({len(c['kinds'])} ModelNet-C kind(s) x 5 severities, corruption seed {c['seed']}, "
            f"one pass): mean accuracy **{_percent(c['mean_acc'])}**, {100 * c['mean_drop']:.1f} points below "
            f"clean {_percent(c['clean_acc'])}; table: [{c['table']}]({c['table']})"]


def training_section(facts: dict[str, Any]) -> list[str]:
    t = facts.get("training")
    if not t:
        return []
    lines = ["## Training", "", f"- {t['epochs']} epochs in {_duration(t['seconds'])} of training steps "
             f"({t['world_size']} process(es)), seed {t.get('seed', 'n/a')}"]
    if t.get("wall_seconds") is not None:
        budget = t.get("budget_minutes")
        planned = (f" (train.budget_minutes={budget:g}, planned for a machine whose bare training step runs at "
                   "80 samples/s)") if budget else ""
        lines.append(f"- the whole command, from its start to the end of the test: {_duration(t['wall_seconds'])}"
                     f"{planned}")
    return lines + [f"- hardware: {t['hardware']}", ""]


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} minutes"


def usage_section(run_dir: Path) -> list[str]:
    checkpoint = run_dir.resolve() / ("best.pt" if (run_dir / "best.pt").exists() else "last.pt")
    return ["## Use it", "", "```python", "from pointnet import Classifier",
            f'model = Classifier.from_checkpoint("{checkpoint}")',
            'print(model.predict("chair.off", top_k=3)[0].top_k())', "```", "",
            f"Export: `pointnet-export checkpoint={checkpoint} export.format=onnx`.", ""]


def card_markdown(facts: dict[str, Any], run_dir: Path) -> str:
    """The whole card."""
    lines = [f"# Model card: PointNet ({facts['variant']}) on {facts['data']['name']}", ""]
    for section in (data_section(facts["data"]), recipe_section(facts), test_section(facts),
                    evaluation_section(facts), training_section(facts), usage_section(Path(run_dir))):
        lines += section
    return "\n".join(lines).rstrip() + "\n"
