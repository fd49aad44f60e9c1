"""The import rules of DESIGN.md, kept by the suite so they cannot rot."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_ruff_finds_nothing() -> None:
    """The lint rules of pyproject.toml, kept by the suite: ``make lint`` alone let a too-long line land."""
    ruff = Path(sys.executable).parent / "ruff"
    folders = ["segstudio", "tests", "resources", "packaging"]
    result = subprocess.run(
        [str(ruff), "check", "--no-cache", *folders],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _fresh_interpreter(code: str) -> str:
    """Run ``code`` in a new Python (nothing imported yet by other tests) and return its stdout."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_core_and_io_import_neither_qt_nor_torch() -> None:
    """A fresh interpreter imports every core and io module; no Qt or torch may come along."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import segstudio.core, segstudio.io, segstudio.depth\n"
        "for pkg in (segstudio.core, segstudio.io, segstudio.depth):\n"
        "    for info in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'PySide6', 'torch', 'pyqtgraph'})\n"
        "print(','.join(bad))\n"
    )
    assert _fresh_interpreter(code) == ""


def test_the_app_starts_without_the_dataset_schemas() -> None:
    """pydantic costs 0.2 s at import: the schemas load when a dataset file is read, not at start-up."""
    code = "import sys\nimport segstudio.app\nprint('pydantic' in sys.modules)\n"
    assert _fresh_interpreter(code) == "False"


def test_gui_imports_neither_torch_nor_ray() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import segstudio.gui, segstudio.app\n"
        "for info in pkgutil.walk_packages(segstudio.gui.__path__, 'segstudio.gui.'):\n"
        "    importlib.import_module(info.name)\n"
        "print('torch' in sys.modules, 'ray' in sys.modules)\n"
    )
    assert _fresh_interpreter(code) == "False False"


def test_the_command_line_starts_without_torch_or_ray() -> None:
    """Every subcommand registers without importing torch or Ray; only the model commands load
    torch when run, and only ``--cluster`` other than local loads Ray."""
    code = (
        "import sys\n"
        "from segstudio.cli import build_parser\n"
        "build_parser()\n"
        "import segstudio.cluster\n"
        "print('torch' in sys.modules, 'PySide6' in sys.modules, 'ray' in sys.modules)\n"
    )
    assert _fresh_interpreter(code) == "False False False"


def _job_runs(tree: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """(function containing the call, the ``run`` given) for every ``Job(...)`` call in ``tree``."""
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        for call in ast.walk(function):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Job":
                run = (
                    call.args[2]
                    if len(call.args) > 2
                    else next((k.value for k in call.keywords if k.arg == "run"), None)
                )
                if run is not None:
                    found.append((function, run))
    return found


def _uses_self(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "self" for n in ast.walk(node))


def test_worker_jobs_never_hold_a_qobject_through_self() -> None:
    """A job dropped on the worker thread must not drop the last reference to a QObject (its C++
    object would be destroyed there; see ``gui.threads.gc_guard``): no job's ``run`` may refer to ``self``."""
    offenders = []
    for path in sorted((REPO_ROOT / "segstudio" / "gui").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for function, run in _job_runs(tree):
            body: ast.AST = run
            if isinstance(run, ast.Name):  # a local ``def run(context)`` of the same function
                local = (n for n in ast.walk(function) if isinstance(n, ast.FunctionDef) and n.name == run.id)
                body = next(local, run)
            if _uses_self(body):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{run.lineno}")
    assert not offenders, f"jobs referring to self: {offenders}"


_OUTSIDE_REFERENCES = re.compile(
    r"\.\.[/\\]+shared"  # ../shared
    r"|shared[/\\]+data"  # shared/data
    r"|[\"']shared[\"']\s*\)?\s*/"  # Path(...) / "shared" / ...
    r"|parents?(\[\d+\])?\s*/\s*[\"']\.\.[\"']"  # root.parent / ".." climbs out of the checkout
)


def _checked_for_outside_references() -> list[Path]:
    """Code and build files a fresh clone runs: the package, tests, resources, Makefile, CI."""
    files = [REPO_ROOT / "Makefile", REPO_ROOT / "pyproject.toml", *sorted((REPO_ROOT / ".ci").glob("*"))]
    for folder in ("segstudio", "tests", "resources"):
        files += sorted((REPO_ROOT / folder).rglob("*.py"))
    return [path for path in files if path.is_file() and path != Path(__file__).resolve()]


def outside_references(paths: list[Path]) -> list[str]:
    """``file:line`` of every reference to a data folder beside the checkout."""
    return [
        f"{path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}:{number}"
        for path in paths
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _OUTSIDE_REFERENCES.search(line)
    ]


def test_nothing_refers_to_files_beside_the_checkout() -> None:
    """A fresh clone has no ``../shared``: tests, benchmarks and commands use the repository's own data."""
    assert outside_references(_checked_for_outside_references()) == []


def test_the_outside_reference_check_catches_the_usual_spellings(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    lines = [
        'DATA = Path(__file__).parents[1] / ".." / "shared" / "data"',
        'SAMPLE = "../shared/data/coco-panoptic-sample"',
        'ROOT = REPO_ROOT.parent / ".." / "other"',
        'FINE = tmp_path / "shared.png"  # a file that happens to be called shared',
    ]
    probe.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert outside_references([probe]) == [f"{probe}:1", f"{probe}:2", f"{probe}:3"]
