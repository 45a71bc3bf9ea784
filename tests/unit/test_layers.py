"""The structure issue 11 asked for, held by tests: the layers (import-linter's contract in pyproject.toml, which
`make test` also runs), no global lookup of services, no Careline module imported by a string."""
from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
PACKAGES = CONFIG["root_packages"]


def _sources():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_given_every_careline_package_then_each_is_in_a_layer_of_the_contract():
    on_disk = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "migrations", "bench", "callsim"}
    (layers,) = [contract["layers"] for contract in CONFIG["contracts"] if contract["type"] == "layers"]
    layered = {name.strip() for line in layers for name in line.split("|")}
    assert on_disk == set(PACKAGES) == layered


def test_given_the_layers_contract_then_lint_imports_keeps_it():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    completed = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "0 broken" in completed.stdout


def test_given_careline_code_then_no_global_services_lookup_and_no_import_by_string():
    found = []
    for path in _sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                owner = node.func.value
                if name == "current" and isinstance(owner, ast.Name) and owner.id == "services":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} services.current()")
                if name == "import_module":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} import_module()")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                    "__import__", "import_module"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}()")
    assert found == []
