"""The offline procedural corpus: ModelNet layout and dialect, deterministic, atomic, safe to regenerate."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pointnet.apps.make_synthetic import main
from pointnet.data import DatasetError, generate_synthetic, load_split, read_mesh
from pointnet.data.synthetic.corpus import MANIFEST, SYNTHETIC_CLASSES

SMALL = {"train_per_class": 2, "test_per_class": 1, "workers": 1, "progress": False}


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.off"))}


def test_layout_classes_and_counts(tmp_path):
    root = generate_synthetic(tmp_path / "syn", **SMALL)
    assert len(SYNTHETIC_CLASSES) >= 10
    assert {"chair", "stool", "bench", "table", "desk"} <= set(SYNTHETIC_CLASSES)
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == list(SYNTHETIC_CLASSES)
    for name in SYNTHETIC_CLASSES:
        assert sorted(p.name for p in (root / name / "train").iterdir()) == [f"{name}_0001.off", f"{name}_0002.off"]
        assert [p.name for p in (root / name / "test").iterdir()] == [f"{name}_0001.off"]
    manifest = json.loads((root / MANIFEST).read_text())
    assert len(manifest["files"]) == 3 * len(SYNTHETIC_CLASSES)


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    one = tree(generate_synthetic(tmp_path / "a", seed=5, **SMALL))
    two = tree(generate_synthetic(tmp_path / "b", seed=5, **{**SMALL, "workers": 2}))
    other = tree(generate_synthetic(tmp_path / "c", seed=6, **SMALL))
    assert one == two
    assert one.keys() == other.keys() and one != other


def test_files_exercise_the_reader_and_are_upright(tmp_path):
    root = generate_synthetic(tmp_path / "syn", train_per_class=6, test_per_class=0, workers=1, progress=False)
    texts = [p.read_bytes() for p in root.rglob("*.off")]
    assert any(t.split(b"\n", 1)[0].strip() not in (b"OFF",) for t in texts)  # fused header
    assert any(b"\r\n" in t for t in texts)
    assert any(any(line.startswith(b"4 ") for line in t.splitlines()[2:]) for t in texts)  # quads
    for path in sorted(root.rglob("*.off"))[::7]:
        mesh = read_mesh(path)
        assert mesh.area > 0


def test_whole_corpus_prepares_and_class_shapes_differ(tmp_path):
    root = generate_synthetic(tmp_path / "syn", **SMALL)
    train = load_split("meshes", root, "train", dense_points=256, workers=1, progress=False)
    assert len(train) == 2 * len(SYNTHETIC_CLASSES) and not train.skipped
    heights = {name: np.ptp(train.points[train.labels == i][..., 2], axis=1).mean()
               for i, name in enumerate(train.classes)}
    assert heights["lamp"] > heights["bench"]  # upright, so shape shows in z


def test_complete_corpus_is_reused_and_partial_one_regenerated(tmp_path):
    root = generate_synthetic(tmp_path / "syn", **SMALL)
    stamp = (root / MANIFEST).stat().st_mtime_ns
    generate_synthetic(root, **SMALL)
    assert (root / MANIFEST).stat().st_mtime_ns == stamp  # reused, nothing rewritten
    victim = root / "chair" / "train" / "chair_0002.off"
    good = victim.read_bytes()
    victim.write_bytes(good[:40])  # half-written file
    generate_synthetic(root, **SMALL)
    assert victim.read_bytes() == good
    (root / MANIFEST).unlink()  # a corpus interrupted before its manifest
    shutil.rmtree(root / "table")
    generate_synthetic(root, **SMALL)
    assert (root / "table" / "test" / "table_0001.off").is_file() and (root / MANIFEST).is_file()
    assert not list(tmp_path.glob(".syn.*"))  # no staging left behind


def test_other_parameters_regenerate(tmp_path):
    root = generate_synthetic(tmp_path / "syn", **SMALL)
    generate_synthetic(root, **{**SMALL, "train_per_class": 3})
    assert (root / "sofa" / "train" / "sofa_0003.off").is_file()


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(DatasetError, match="refusing"):
        generate_synthetic(tmp_path / "mine", **SMALL)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_command_line(tmp_path, capsys):
    main(["--root", str(tmp_path / "cli"), "--train-per-class", "1", "--test-per-class", "1",
          "--workers", "1", "--quiet"])
    assert f"{2 * len(SYNTHETIC_CLASSES)} meshes" in capsys.readouterr().out


def test_console_script_runs(tmp_path):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "pointnet-make-synthetic"), "--root", str(tmp_path / "s"),
         "--train-per-class", "1", "--test-per-class", "0", "--workers", "1", "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s" / "chair" / "train" / "chair_0001.off").is_file()
