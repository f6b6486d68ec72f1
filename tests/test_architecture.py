"""The package's layers: who may import whom, no cycles, no side effects at import, the public API."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pointnet

PACKAGE = Path(pointnet.__file__).parent
# Each layer and the project layers it may import (itself included). Third-party imports are free,
# except where a test below says otherwise.
ALLOWED = {
    "errors": {"errors"},
    "roles": {"roles"},
    "nn": {"nn"},
    "data": {"roles", "data"},
    "explain": {"explain"},
    "runtime": {"roles", "runtime"},
    "training": {"errors", "roles", "nn", "data", "runtime", "training"},
    "inference": {"errors", "nn", "data", "training", "inference"},
    "reporting": {"errors", "nn", "data", "training", "reporting"},
    "apps": {"errors", "roles", "nn", "data", "runtime", "training", "inference", "reporting", "apps", "configs"},
}
ENTRY_POINTS = {"pointnet"}  # the public API


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """The ``pointnet.*`` modules a file imports, anywhere in it (function-level imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "pointnet"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pointnet":
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                      for a in node.names}
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> str:
    return module.split(".")[1]


@pytest.mark.parametrize("module", sorted(set(MODULES) - ENTRY_POINTS))
def test_no_layer_imports_one_above_it(module):
    imported = {layer(m) for m in project_imports(MODULES[module]) if m != "pointnet"}
    assert "pointnet" not in {m for m in project_imports(MODULES[module])}, f"{module} imports the top package"
    assert imported <= ALLOWED[layer(module)], f"{module} imports {sorted(imported - ALLOWED[layer(module)])}"


def test_there_are_no_import_cycles():
    graph = {m: {i for i in project_imports(p) if i in MODULES} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(path + [nxt])
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def run_python(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


MAX_FUNCTION_LINES, MAX_CLASS_LINES = 70, 160


def test_functions_and_classes_stay_short():
    """No function (method) over 70 lines and no class over 160 in the package, decorators and docstrings included."""
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if node.end_lineno - start + 1 > limit:
                long.append(f"{module}.{node.name}: {node.end_lineno - start + 1} lines (at most {limit})")
    assert not long, long


def test_the_network_layer_pulls_in_no_hydra_tensorboard_or_matplotlib():
    loaded = run_python("import json, sys, pointnet.nn, pointnet.nn.fast_path, pointnet.nn.complexity; "
                        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    assert not {"hydra", "omegaconf", "tensorboard", "matplotlib"} & set(loaded)


@pytest.fixture(scope="module")
def every_module_imported():
    """What importing every module in a fresh interpreter leaves behind, after
    the user picked matplotlib's ``svg`` backend: ``{"backend": ..., "trimesh": loaded?}``."""
    modules = sorted(MODULES)
    return run_python("import importlib, json, sys, matplotlib; matplotlib.use('svg'); "
                      f"[importlib.import_module(m) for m in {modules!r}]; "
                      "print(json.dumps({'backend': matplotlib.get_backend(), 'trimesh': 'trimesh' in sys.modules}))")


def test_importing_every_module_leaves_matplotlibs_backend_alone(every_module_imported):
    assert every_module_imported["backend"] == "svg"


def test_trimesh_is_loaded_only_where_a_mesh_is_handled(every_module_imported):
    """trimesh costs about a second of every process's start-up; runs on a prepared cache, eval and export
    never touch a mesh, so no module may import it at the top."""
    assert every_module_imported["trimesh"] is False


def test_the_public_api():
    assert set(pointnet.__all__) == {"Classifier", "PointNet", "SHARED_MLPS", "__version__", "load_split",
                                     "orthogonality_loss"}
    assert sorted(pointnet.SHARED_MLPS) == ["conv1d", "linear", "loop"]
    with pytest.raises(TypeError):
        pointnet.SHARED_MLPS["mine"] = object  # read-only: the registry is the code's, not a global to patch
    assert isinstance(pointnet.__version__, str) and pointnet.__version__[0].isdigit()
