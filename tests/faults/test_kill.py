"""kill -9 and SIGTERM/SIGINT at random moments of real training processes; every trial is resumed and the
run finished, and the final weights must equal an uninterrupted run's exactly (CPU, one thread). Each trial
starts a process (several seconds), so CI runs 5 kills and one trial of each signal; ``POINTNET_FAULT_REPEAT=N``
runs N times as many."""
import random
import signal
import time

from tests.faults import runner
from tests.faults.conftest import fault_repeat

KILLS = 5 * fault_repeat()
SIGNAL_TRIALS = ("SIGTERM", "SIGINT", "SIGINT twice") * fault_repeat()
EXIT = {"SIGTERM": 143, "SIGINT": 130, "SIGINT twice": 130}


def matches_reference(reference, runs):
    """Every run of the chain ends with the uninterrupted run's weights (exactly) and history."""
    return all(runner.same_weights(reference / "last.pt", r / "last.pt")
               and runner.history_without_perf(r) == runner.history_without_perf(reference) for r in runs)


def test_kill_9_at_random_moments_then_resume_matches(tiny_data, reference_run, tmp_path, fault_log):
    trials, runs = runner.fault_chain(tiny_data, tmp_path, KILLS, reference_run, random.Random(12),
                                      lambda p, i: p.signal(signal.SIGKILL))
    equal = matches_reference(reference_run[0], runs)
    for t in trials:
        ok = equal and not t["unreadable"] and t["code"] == -signal.SIGKILL
        fault_log("kill -9 during training", survived=ok, data_lost=not equal or bool(t["unreadable"]),
                  code=t["code"], at=t["at"])
    summary = [(t["run"], t["code"], t["at"], t["unreadable"]) for t in trials]
    assert equal and all(not t["unreadable"] and t["code"] == -signal.SIGKILL for t in trials), summary
    assert len({(t["run"], t["at"]) for t in trials}) >= 3, summary  # the kills fell in several epochs


def send(kind):
    def inject(p, trial):
        sig = signal.SIGTERM if kind[trial] == "SIGTERM" else signal.SIGINT
        p.signal(sig)
        if kind[trial] == "SIGINT twice":
            time.sleep(0.05)
            p.signal(sig)
    return inject


def test_sigterm_and_sigint_at_random_moments_save_a_consistent_state(tiny_data, reference_run, tmp_path, fault_log):
    trials, runs = runner.fault_chain(tiny_data, tmp_path, len(SIGNAL_TRIALS), reference_run, random.Random(13),
                                      send(SIGNAL_TRIALS))
    equal = matches_reference(reference_run[0], runs)
    for kind, t in zip(SIGNAL_TRIALS, trials):
        t["ok"] = (t["code"] == EXIT[kind] and not t["unreadable"] and "Traceback" not in t["output"]
                   and "interrupted: saved" in t["output"] and t["at"] is not None)
        fault_log(kind, survived=t["ok"] and equal, data_lost=not equal or bool(t["unreadable"]), code=t["code"],
                  at=t["at"])
    summary = [(kind, t["code"], t["at"], t["ok"]) for kind, t in zip(SIGNAL_TRIALS, trials)]
    assert equal and all(t["ok"] for t in trials), (summary, [t["output"][-1500:] for t in trials if not t["ok"]])
