"""Steady on a shared CPU: the bounded OpenMP spin reaches libgomp, and the thread governor reads the load.

libgomp prints the settings it runs with when ``OMP_DISPLAY_ENV=VERBOSE`` is set, so the OpenMP
tests read what the runtime itself took, in fresh processes started the ways users start the apps.
Its display shows ``OMP_WAIT_POLICY = 'PASSIVE'`` even by default; the spin count tells them apart:
300000 spins before sleeping by default, 1000 with the apps' bounded spin, 0 with passive waiting,
billions with ``ACTIVE``.
The governor tests use real processes and real ``/proc/stat`` readings.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pointnet.runtime.threads import ThreadGovernor, _LoadMark, cpu_seconds, threads_for
from tests.helpers import cpu_competitor

LINUX = Path("/proc/stat").exists()


def libgomp_settings(code: str, **env) -> str:
    """stderr of ``python -c code`` with libgomp's settings display on and the OpenMP variables unset."""
    environ = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME",
                                                                 "GOMP_SPINCOUNT", "POINTNET_OPENMP")}
    environ.update(OMP_DISPLAY_ENV="VERBOSE", **env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stderr


HELP = "import sys; sys.argv = ['pointnet-benchmark', '--help']\ntry:\n    {call}\nexcept SystemExit:\n    pass"


def test_console_entry_point_sets_the_bounded_spin_before_torch_loads():
    shown = libgomp_settings(HELP.format(call="from pointnet.apps.entry import benchmark; benchmark()"))
    assert "GOMP_SPINCOUNT = '1000'" in shown


def test_python_dash_m_sets_the_bounded_spin_too():
    shown = libgomp_settings("import runpy, sys; sys.argv = ['x', '--help']\ntry:\n"
                             "    runpy.run_module('benchmarks.benchmark', run_name='__main__')\n"
                             "except SystemExit:\n    pass")
    assert "GOMP_SPINCOUNT = '1000'" in shown


def test_a_users_setting_is_kept_and_spin_opts_out():
    call = "from pointnet.apps.entry import benchmark; benchmark()"
    active = libgomp_settings(HELP.format(call=call), OMP_WAIT_POLICY="ACTIVE")
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in active and "GOMP_SPINCOUNT = '30000000000'" in active  # no 1000 added
    assert "GOMP_SPINCOUNT = '0'" in libgomp_settings(HELP.format(call=call), OMP_WAIT_POLICY="PASSIVE")
    assert "GOMP_SPINCOUNT = '5'" in libgomp_settings(HELP.format(call=call), GOMP_SPINCOUNT="5")
    assert "GOMP_SPINCOUNT = '300000'" in libgomp_settings(HELP.format(call=call), POINTNET_OPENMP="spin")
    assert "GOMP_SPINCOUNT = '300000'" in libgomp_settings("import torch")  # the runtime's default


def test_importing_the_entry_module_loads_no_torch():
    out = subprocess.run([sys.executable, "-c", "import sys, pointnet.apps.entry; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "False"


def test_threads_leave_the_cores_others_use():
    assert threads_for(2, 0.0) == 2
    assert threads_for(2, 0.4) == 2
    assert threads_for(2, 0.9) == 1
    assert threads_for(2, 3.0) == 1
    assert threads_for(16, 4.2) == 12


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.serial  # reads the machine's load: scripts/test.sh runs it alone
@pytest.mark.skipif(not LINUX, reason="reads /proc/stat")
def test_own_cpu_time_is_not_counted_as_others():
    first, own_first = _LoadMark.now(), proc_cpu_seconds(os.getpid())
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:  # this process keeps a core busy (as far as the scheduler lets it)
        pass
    last, own_last = _LoadMark.now(), proc_cpu_seconds(os.getpid())
    wall = last.wall - first.wall
    own = last.cpu[1] - first.cpu[1]
    assert own == pytest.approx(own_last - own_first, abs=0.03)  # the kernel's count of this process
    assert own > 0.02
    busy = last.cpu[0] - first.cpu[0]
    assert last.others_busy(first) == pytest.approx(max(0.0, (busy - own) / wall), abs=1e-9)


@pytest.mark.serial  # reads the machine's load: scripts/test.sh runs it alone
@pytest.mark.skipif(not LINUX, reason="reads /proc/stat")
def test_governor_counts_a_competing_process_and_drops_a_thread(caplog):
    caplog.set_level("INFO", logger="pointnet.runtime.threads")
    before = torch.get_num_threads()
    try:
        with cpu_competitor() as competitor:
            time.sleep(0.2)
            used = proc_cpu_seconds(competitor.pid)
            governor = ThreadGovernor(cores=2, window_s=0.5)
            start = time.perf_counter()
            chosen = governor.start()
            rate = (proc_cpu_seconds(competitor.pid) - used) / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    others, threads = governor.history[-1]
    assert others >= rate - 0.1  # the competitor's share (whatever the scheduler gave it) is in "others"
    assert threads == chosen == threads_for(2, others)
    assert (f"threads {before} -> {chosen}:" in caplog.text) == (chosen != before)  # a change is logged
    if rate > 0.6:  # it got most of a core, so one of the two is left
        assert chosen == 1


def test_fixed_thread_count_never_changes():
    before = torch.get_num_threads()
    try:
        governor = ThreadGovernor(fixed=1)
        assert governor.start() == 1
        for _ in range(5):
            time.sleep(0.01)
            assert governor.observe_step() == 1
        assert governor.update() == 1 and governor.history == []
    finally:
        torch.set_num_threads(before)


@pytest.mark.serial  # reads the machine's load: scripts/test.sh runs it alone
@pytest.mark.skipif(not LINUX, reason="reads /proc/stat")
def test_a_slow_step_triggers_a_decision_from_that_step():
    before = torch.get_num_threads()
    try:
        governor = ThreadGovernor(cores=2, check_every=1000)
        governor.update()
        decisions = len(governor.history)
        for _ in range(4):
            time.sleep(0.02)
            governor.observe_step()
        assert len(governor.history) == decisions  # steady steps: no new decision
        time.sleep(0.3)
        governor.observe_step()
        assert len(governor.history) == decisions + 1
    finally:
        torch.set_num_threads(before)


def test_periodic_check_every_n_steps():
    before = torch.get_num_threads()
    try:
        governor = ThreadGovernor(cores=2, check_every=3, slowdown=1e9)
        governor.update()
        decisions = len(governor.history)
        for _ in range(6):
            governor.observe_step()
        assert len(governor.history) == decisions + (2 if cpu_seconds() is not None else 0)
    finally:
        torch.set_num_threads(before)
