"""Mesh and point-file fuzzing: seeded mutations of the fixtures and of real ModelNet files.

Nothing but ``MeshError`` leaves the mesh reader (point files: ``ValueError``, of which ``MeshError``
is one), no file takes longer than :data:`PER_FILE_S`, and a file that claims billions of vertices
or points is refused without allocating them. The loops run for ``fuzz_budget_s()`` seconds
each (a few in CI; ``POINTNET_FAULT_BUDGET=600`` for a long run).
"""
from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pointnet.data import MeshError
from pointnet.data.datasets.inputs import Preprocessing, load_points
from pointnet.data.readers.meshes import read_mesh
from pointnet.data.readers.point_files import read_point_file
from tests.faults.conftest import fuzz_budget_s
from tests.pcd_files import ENCODINGS, write_pcd

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
REAL = ROOT.parent / "shared" / "data" / "modelnet-real" / "ModelNet10"
PER_FILE_S = 10.0  # generous: a loaded 2-core machine parses a 1 MB OFF in well under a second
MAX_SEED_BYTES = 200_000  # larger real files are read in place unmodified, not mutated
NASTY = [b"nan", b"inf", b"-inf", b"1e309", b"-1", b"4294967296", b"3000000000", b"1e300", b"0x1F", b"",
         b"\x00", b"\xff\xfe", b"#", b"3 0 0 0", b"-0", b"1e-320"]


class Hang(BaseException):
    """Raised by the per-file alarm; a BaseException so that no reader's ``except Exception`` hides it."""


def _alarm(signum, frame):
    raise Hang()


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def insert_bytes(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + data[at:]


def replace_number(data: bytes, rng: random.Random) -> bytes:
    numbers = list(re.finditer(rb"[-+]?[0-9][0-9.eE+-]*", data[:50_000]))
    if not numbers:
        return insert_bytes(data, rng)
    m = rng.choice(numbers)
    return data[: m.start()] + rng.choice(NASTY) + data[m.end() :]


def claim_billions(data: bytes, rng: random.Random) -> bytes:
    """The first integers (the header's counts, for OFF and PLY) become billions."""
    head, tail = data[:300], data[300:]
    return re.sub(rb"\b[0-9]+\b", lambda m: rng.choice([b"3000000000", b"4294967295", m.group(0)]), head) + tail


def edit_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    op = rng.randrange(3)
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[j])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


MUTATIONS = [truncate, flip_bits, insert_bytes, replace_number, claim_billions, edit_lines]


def mesh_seeds(extra: list[Path]) -> list[Path]:
    files = sorted(FIXTURES.glob("*.off")) + sorted(FIXTURES.glob("*.obj")) + sorted((FIXTURES / "formats").iterdir())
    real = sorted(REAL.glob("*/*/*.off")) if REAL.is_dir() else []
    return files + [p for p in real if p.stat().st_size <= MAX_SEED_BYTES] + extra


def fuzz(read: Callable[[Path], object], allowed: type[BaseException], seeds: list[Path], workdir: Path,
         budget_s: float, rng: random.Random) -> dict:
    """Mutate seeds and read each mutant until ``budget_s`` runs out; what escaped and what hung."""
    contents = [(p.suffix.lower(), p.read_bytes()) for p in seeds]
    escaped, hung, cases, slowest = [], [], 0, 0.0
    previous = signal.signal(signal.SIGALRM, _alarm)
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < budget_s:
            suffix, data = rng.choice(contents)
            mutation = rng.choice(MUTATIONS)
            path = workdir / f"case{cases % 8}{suffix}"
            path.write_bytes(mutation(data, rng))
            began = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, PER_FILE_S)
            try:
                read(path)
            except allowed:
                pass
            except Hang:
                hung.append((mutation.__name__, path.read_bytes()[:200]))
            except Exception as error:
                escaped.append((mutation.__name__, f"{type(error).__name__}: {error}"[:300]))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            slowest = max(slowest, time.perf_counter() - began)
            cases += 1
    finally:
        signal.signal(signal.SIGALRM, previous)
    return {"cases": cases, "seconds": round(time.perf_counter() - start, 2), "escaped": escaped, "hung": hung,
            "slowest_s": round(slowest, 3)}


def test_real_files_read_in_place():
    real = sorted(REAL.glob("*/*/*.off")) if REAL.is_dir() else []
    if not real:
        pytest.skip(f"no real ModelNet files at {REAL}")
    for path in real:
        assert len(read_mesh(path).faces) > 0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflowing mutants warn by design
def test_mesh_fuzzing_only_ever_raises_mesh_error(tiny_data, tmp_path, fault_log):
    seeds = mesh_seeds(sorted(Path(tiny_data).glob("*/test/*.off"))[:3])
    report = fuzz(read_mesh, MeshError, seeds, tmp_path, fuzz_budget_s(4.0), random.Random(0))
    fault_log("mesh_fuzz", survived=not report["escaped"] and not report["hung"], cases=report["cases"],
              seconds=report["seconds"], slowest_s=report["slowest_s"])
    assert report["cases"] > 0 and not report["escaped"] and not report["hung"], report


def point_seeds(workdir: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(64, 3))
    np.save(workdir / "seed.npy", points.astype(np.float32))
    np.savetxt(workdir / "seed.xyz", points)
    np.savetxt(workdir / "seed.csv", np.hstack([points, points]), delimiter=",")
    return [workdir / "seed.npy", workdir / "seed.xyz", workdir / "seed.csv", *pcd_seeds(workdir, points)]


def pcd_seeds(workdir: Path, points: np.ndarray) -> list[Path]:
    """One PCD per encoding (written by pypcd4): normals, an extra field between them, a NaN hole."""
    cloud = np.hstack([points, points / np.linalg.norm(points, axis=1, keepdims=True)]).astype(np.float32)
    cloud[5, 0] = np.nan
    x, y, z, nx, ny, nz = cloud.T
    columns = {"x": x, "y": y, "z": z, "intensity": np.ones(len(cloud), np.uint16), "normal_x": nx, "normal_y": ny,
               "normal_z": nz}
    return [write_pcd(workdir / f"seed_{encoding}.pcd", columns, encoding) for encoding in ENCODINGS]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_point_file_fuzzing_only_ever_raises_value_error(tmp_path, fault_log):
    seeds = point_seeds(tmp_path)
    report = fuzz(lambda p: load_points(p, Preprocessing(32, "z")), ValueError, seeds, tmp_path, fuzz_budget_s(2.0),
                  random.Random(1))
    fault_log("point_file_fuzz", survived=not report["escaped"] and not report["hung"], cases=report["cases"],
              seconds=report["seconds"], slowest_s=report["slowest_s"])
    assert report["cases"] > 0 and not report["escaped"] and not report["hung"], report


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_pcd_fuzzing_only_ever_raises_mesh_error(tmp_path, fault_log):
    """The PCD reader parses headers, offsets and LZF streams itself: its only error is ``MeshError``."""
    seeds = pcd_seeds(tmp_path, np.random.default_rng(2).normal(size=(64, 3)))
    report = fuzz(read_point_file, MeshError, seeds, tmp_path, fuzz_budget_s(2.0), random.Random(2))
    fault_log("pcd_fuzz", survived=not report["escaped"] and not report["hung"], cases=report["cases"],
              seconds=report["seconds"], slowest_s=report["slowest_s"])
    assert report["cases"] > 0 and not report["escaped"] and not report["hung"], report


BILLIONS = {
    "claims.off": b"OFF\n3000000000 1000000000 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n",
    "claims_ascii.ply": b"ply\nformat ascii 1.0\nelement vertex 3000000000\nproperty float x\nproperty float y\n"
                        b"property float z\nelement face 1000000000\nproperty list uchar int vertex_indices\n"
                        b"end_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n",
    "claims_binary.ply": b"ply\nformat binary_little_endian 1.0\nelement vertex 3000000000\nproperty float x\n"
                         b"property float y\nproperty float z\nelement face 1000000000\n"
                         b"property list uchar int vertex_indices\nend_header\n" + bytes(36),
    "claims.stl": b"x" * 80 + (4_000_000_000).to_bytes(4, "little") + bytes(50),
    "claims_binary.pcd": b"FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nPOINTS 3000000000\nDATA binary\n" + bytes(36),
    # 357913941 points of 12 bytes: the largest claim the uint32 size field can hold, from 12 LZF bytes
    "claims_compressed.pcd": b"FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nPOINTS 357913941\nDATA binary_compressed\n"
                             + (12).to_bytes(4, "little") + (357913941 * 12).to_bytes(4, "little") + bytes(12),
}
# Run in a child whose address space is capped at 1 GiB above what it holds after its imports: a
# reader that tried to allocate the claimed size would die or raise MemoryError, not swap the machine.
CHILD = """
import resource, sys
from pathlib import Path
from pointnet.data.datasets.inputs import Preprocessing, load_points
from pointnet.data import MeshError
from pointnet.data.readers.meshes import read_mesh
vm = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), resource.RLIM_INFINITY))
for name in sys.argv[1:]:
    path, before = Path(name), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        load_points(path, Preprocessing(32, "z")) if path.suffix in (".npy", ".pcd") else read_mesh(path)
        outcome = "read"
    except ValueError as error:
        outcome = type(error).__name__
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024
    print(path.name, outcome, grown)
"""


def test_files_claiming_billions_are_refused_in_bounded_memory(tmp_path, fault_log):
    for name, data in BILLIONS.items():
        (tmp_path / name).write_bytes(data)
    small = tmp_path / "small.npy"
    np.save(small, np.zeros((10, 3), np.float32))
    (tmp_path / "claims.npy").write_bytes(_claiming_npy(small.read_bytes()))
    names = [str(tmp_path / n) for n in [*BILLIONS, "claims.npy"]]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", CHILD, *names], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines()]
    for name, outcome, grown_mb in rows:
        bounded = outcome in ("MeshError", "ValueError") and int(grown_mb) < 256
        fault_log("billion_claims", survived=bounded, file=name, peak_growth_mb=int(grown_mb))
        assert bounded, rows
    assert len(rows) == len(names)


def _claiming_npy(raw: bytes) -> bytes:
    """``raw`` (a small .npy) with a header that claims 3e9 x 3 float32 (36 GB), same header length."""
    header_len = int.from_bytes(raw[8:10], "little")
    header = raw[10 : 10 + header_len].replace(b"(10, 3)", b"(3000000000, 3)")
    header = header.rstrip(b" \n")
    header = header + b" " * (header_len - len(header) - 1) + b"\n"
    assert len(header) == header_len
    return raw[:10] + header + raw[10 + header_len :]
