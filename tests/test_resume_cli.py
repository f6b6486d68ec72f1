"""Resume from the command line: ``resume=true`` stays in this app's outputs/, and a resume leaves no stub dir."""
import shutil

from tests.faults import runner


def test_resume_true_never_takes_over_a_run_outside_outputs(tiny_data, trained_run, tmp_path):
    launch, elsewhere = tmp_path / "launch", tmp_path / "elsewhere"
    launch.mkdir()
    decoy = elsewhere / "other" / "run" / "last.pt"  # what run_dir.parents[1]/*/*/last.pt used to find
    decoy.parent.mkdir(parents=True)
    shutil.copy(trained_run / "last.pt", decoy)
    before = decoy.read_bytes()
    code, output = runner.run(runner.app("train", *runner.train_args(tiny_data, elsewhere / "mine" / "run",
                                                                     "resume=true")), launch)
    assert code == 2 and "Traceback" not in output, output[-3000:]  # a refused setting (ConfigError)
    assert f"resume: resume=true: no last.pt under {launch / 'outputs'}" in output
    assert decoy.read_bytes() == before and not (elsewhere / "mine" / "run" / "last.pt").exists()


def test_a_resume_continues_in_the_run_dir_and_leaves_no_stub(tiny_data, tmp_path):
    run_dir, stub = tmp_path / "outputs" / "day" / "first", tmp_path / "outputs" / "day2" / "second"
    code, output = runner.run(runner.app("train", *runner.train_args(tiny_data, run_dir, "train.epochs=1")), tmp_path)
    assert code == 0, output[-3000:]
    code, output = runner.run(runner.app("train", *runner.train_args(tiny_data, stub, "train.epochs=2",
                                                                     f"resume={run_dir}")), tmp_path)
    assert code == 0, output[-3000:]
    assert not stub.exists()  # Hydra's fresh dir was folded into the real one
    kept = run_dir / ".hydra" / "resumes" / "day2_second" / "overrides.yaml"
    assert f"resume={run_dir}" in kept.read_text()
    log = (run_dir / "train.log").read_text()
    assert "resumed from" in log and "continuing" in log and log.count("test accuracy") == 2  # both runs, one log
    assert runner.progress(run_dir)[0] == 2
