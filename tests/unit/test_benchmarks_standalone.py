"""The benchmarks run on a plain install (`scripts/up.sh`, no test extra): they import nothing from tests/
and not pytest. Their servers come from infra.stack.scratch, their builders from benchmarks/_support.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
FORBIDDEN = {"tests", "pytest", "_pytest"}


def imported_modules(source: str, filename: str = "<benchmark>") -> set[str]:
    """Every module a file imports, anywhere in it (inside functions too); relative imports as '.name'."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) in {"__import__", "import_module"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def test_there_are_benchmarks_to_check() -> None:
    names = {p.name for p in BENCHMARKS.glob("*.py")}
    assert {"relay_throughput.py", "register_import.py", "notifications_throughput.py"} <= names


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_a_benchmark_imports_nothing_from_tests_nor_pytest(path: Path) -> None:
    offending = sorted(m for m in imported_modules(path.read_text(), str(path)) if m.split(".")[0] in FORBIDDEN)
    assert not offending, f"{path.name} imports {offending}: benchmarks must run without the test extra"


def test_the_check_sees_every_way_of_importing() -> None:
    source = (
        "import pytest\nfrom tests.support.stack import Sandbox\n"
        "def f():\n    import tests.conftest\n    __import__('_pytest')\n"
    )
    assert {"pytest", "tests.support.stack", "tests.conftest", "_pytest"} <= imported_modules(source)


def test_the_benchmarks_import_without_tests_and_pytest_even_indirectly() -> None:
    # Importing a benchmark runs its imports, not its main: in a fresh interpreter where tests, pytest and
    # the test extra's aiosmtpd cannot be imported at all.
    import subprocess
    import sys

    names = [p.stem for p in sorted(BENCHMARKS.glob("*.py"))]
    script = (
        "import importlib, sys\n"
        "for blocked in ('tests', 'pytest', '_pytest', 'aiosmtpd'):\n"
        "    sys.modules[blocked] = None\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module('benchmarks.' + name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BENCHMARKS.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
