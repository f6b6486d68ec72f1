"""kill -9 and SIGTERM/SIGINT at random moments of real training processes; every trial is resumed and the
run finished, and the final weights must equal an uninterrupted run's exactly (CPU, one thread)."""
import random
import signal
import time

from tests.faults import runner

KILLS = 10
SIGNAL_TRIALS = ("SIGTERM", "SIGINT", "SIGINT twice", "SIGTERM", "SIGINT", "SIGINT twice")
EXIT = {"SIGTERM": 143, "SIGINT": 130, "SIGINT twice": 130}


def finish(data, run_dir, attempt):
    p = runner.start_or_resume(data, run_dir, attempt)
    assert p.wait() == 0, p.output[-3000:]


def test_kill_9_at_random_moments_then_resume_matches(tiny_data, reference_run, tmp_path, fault_log):
    reference, train_seconds, steps = reference_run
    moments = runner.random_moments(random.Random(12), KILLS, train_seconds)
    run_dir, trials = tmp_path / "run", []
    for attempt, moment in enumerate(moments):
        p = runner.start_or_resume(tiny_data, run_dir, attempt)
        assert p.wait_for(runner.STARTED), p.output[-3000:]
        delay = runner.delay_until(moment, run_dir, train_seconds, steps)
        time.sleep(delay)
        p.signal(signal.SIGKILL)
        code = p.wait()
        bad = runner.unreadable_checkpoints(run_dir)
        trials.append(dict(delay=round(delay, 3), code=code, at=runner.progress(run_dir), unreadable=bad))
        assert not bad, trials
    finish(tiny_data, run_dir, KILLS)
    equal = runner.same_weights(reference / "last.pt", run_dir / "last.pt")
    for t in trials:
        fault_log("kill -9 during training", survived=equal and not t["unreadable"], data_lost=not equal, **t)
    assert equal, trials
    killed = [t for t in trials if t["code"] == -signal.SIGKILL]
    assert len(killed) >= KILLS - 2, trials  # a few may land after the end of a short remaining run
    assert len({t["at"] for t in trials}) >= 3, trials  # the kills fell in several epochs


def test_sigterm_and_sigint_at_random_moments_save_a_consistent_state(tiny_data, reference_run, tmp_path, fault_log):
    reference, train_seconds, steps = reference_run
    moments = runner.random_moments(random.Random(13), len(SIGNAL_TRIALS), train_seconds)
    run_dir, trials = tmp_path / "run", []
    for attempt, (kind, moment) in enumerate(zip(SIGNAL_TRIALS, moments)):
        p = runner.start_or_resume(tiny_data, run_dir, attempt)
        assert p.wait_for(runner.STARTED), p.output[-3000:]
        time.sleep(runner.delay_until(moment, run_dir, train_seconds, steps))
        sig = signal.SIGTERM if kind == "SIGTERM" else signal.SIGINT
        p.signal(sig)
        if kind == "SIGINT twice":
            time.sleep(0.05)
            p.signal(sig)
        code = p.wait(60)
        bad = runner.unreadable_checkpoints(run_dir)
        ok = code in (0, EXIT[kind]) and not bad and "Traceback" not in p.output
        if code == EXIT[kind]:
            ok = ok and "interrupted: saved" in p.output and runner.progress(run_dir) is not None
        trials.append(dict(kind=kind, code=code, at=runner.progress(run_dir), unreadable=bad, ok=ok))
        assert ok, (trials, p.output[-3000:])
        if code == 0:
            break  # the run finished before the signal
    if trials[-1]["code"] != 0:
        finish(tiny_data, run_dir, len(SIGNAL_TRIALS))
    equal = runner.same_weights(reference / "last.pt", run_dir / "last.pt")
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]  # noqa: E731
    same_history = strip(runner.load_checkpoint(reference / "last.pt")["progress"]["history"]) == strip(
        runner.load_checkpoint(run_dir / "last.pt")["progress"]["history"])
    for t in trials:
        fault_log(t["kind"], survived=t["ok"] and equal and same_history, data_lost=not (equal and same_history),
                  code=t["code"], at=t["at"])
    assert equal and same_history, trials
    assert sum(t["code"] != 0 for t in trials) >= 4, trials
