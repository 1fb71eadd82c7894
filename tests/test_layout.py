"""The architecture, checked: torch and onnx stay behind their lines, and nothing cycles."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "speechlstm"
TORCH = {"torch"}
ONNX = {"onnx", "onnxruntime"}


def _imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, anywhere in it (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _modules() -> dict[str, set[str]]:
    return {path.relative_to(PACKAGE).as_posix(): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_only_nn_and_the_torch_backend_import_torch():
    allowed = lambda name: name.startswith("nn/") or name == "backends/torch.py"  # noqa: E731
    offenders = sorted(name for name, imports in _modules().items() if imports & TORCH and not allowed(name))
    assert offenders == [], f"these modules import torch outside nn/ and backends/torch.py: {offenders}"


def test_only_nn_and_the_onnx_backend_import_onnx():
    allowed = lambda name: name.startswith("nn/") or name == "backends/onnx.py"  # noqa: E731
    offenders = sorted(name for name, imports in _modules().items() if imports & ONNX and not allowed(name))
    assert offenders == [], f"these modules import onnx or onnxruntime outside nn/ and backends/onnx.py: {offenders}"


def test_the_scan_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import torch.nn\n    from onnxruntime import InferenceSession\n")
    assert _imports(module) >= {"torch", "onnxruntime"}


def test_the_scan_finds_the_backends():
    modules = _modules()
    assert "torch" in modules["backends/torch.py"] and "onnxruntime" in modules["backends/onnx.py"]
    assert "torch" in modules["nn/model.py"]


def _package_imports(path: Path, anywhere: bool = False) -> set[str]:
    """speechlstm modules ``path`` imports at module level (what runs when it is imported), or
    ``anywhere`` in it (functions and ``if TYPE_CHECKING:`` blocks included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(ROOT).with_suffix("").parts
    package = package[:-1] if package[-1] != "__init__" else package[:-1]
    found = set()
    for node in ast.walk(tree) if anywhere else tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                if node.module is None:
                    found.update(".".join(target + [alias.name]) for alias in node.names)
                    continue
            elif node.module and node.module.startswith("speechlstm"):
                target = node.module.split(".")
            else:
                continue
            found.add(".".join(target))
    return found


def test_the_cli_has_no_import_cycles():
    """Each command module imports only the shared helpers and the library, never another command."""
    cli = PACKAGE / "cli"
    for path in cli.glob("*.py"):
        if path.name == "__init__.py":
            continue
        commands = {f"speechlstm.cli.{p.stem}" for p in cli.glob("*.py")} - {"speechlstm.cli.common"}
        assert not (_package_imports(path) & (commands | {"speechlstm.cli"})), path.name


def test_the_stream_does_not_import_the_recognizer():
    """A stream is state: the recognizer works on it, and it never calls back (not even for type hints)."""
    imports = _package_imports(PACKAGE / "stream.py", anywhere=True)
    assert imports and "speechlstm.recognizer" not in imports, sorted(imports)


def test_readme_says_cpu_torch_before_the_command_that_installs_torch():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.index("--index-url https://download.pytorch.org/whl/cpu") < readme.index("pip install -e '.[test]'")


def test_the_readme_venv_is_ignored_by_git():
    patterns = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ".venv/" in patterns or ".venv" in patterns
