"""The architecture, checked: torch and onnx stay behind their lines, nothing cycles, every error has one base."""
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


def _import_graph(anywhere: bool = False) -> dict[str, set[str]]:
    """``{module: the package modules it imports}`` over the whole package (a package's
    ``__init__`` is the package's name; a name imported from a module counts as that module)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        graph[name] = set()
        for target in _package_imports(path, anywhere):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target != name:
                graph[name].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (its modules, the first repeated at the end), or []."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str]:
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return []
        for target in sorted(graph[name]):
            found = visit(target, path + [name])
            if found:
                return found
        done.add(name)
        return []
    return next((found for name in sorted(graph) if (found := visit(name, []))), [])


def test_no_import_cycles_in_the_package():
    """What runs at import time never cycles (a cycle makes the import order matter), and no two
    modules import each other even inside functions: each shared piece lives where it belongs."""
    graph = _import_graph()
    assert "speechlstm.stream" in graph["speechlstm.recognizer"] and "speechlstm.config" in graph["speechlstm.stream"]
    assert _cycle(graph) == []
    anywhere = _import_graph(anywhere=True)
    assert sorted((a, b) for a in anywhere for b in anywhere[a] if a < b and a in anywhere.get(b, ())) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


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


def _package_modules() -> list:
    """Every module of the package, imported (``__main__`` would run the command line)."""
    import importlib
    import pkgutil

    import speechlstm
    return [importlib.import_module(info.name) for info in pkgutil.walk_packages(speechlstm.__path__, "speechlstm.")
            if not info.name.endswith("__main__")]


def test_every_exception_class_derives_from_the_base():
    """So that the command line maps each to its exit code in one place (Ctrl-C and warnings aside)."""
    import inspect

    from speechlstm.errors import SpeechlstmError
    errors = {f"{module.__name__}.{name}": value
              for module in _package_modules() for name, value in vars(module).items() if inspect.isclass(value) and issubclass(value, Exception) and not issubclass(value, Warning)
              and value.__module__ == module.__name__}
    assert len(errors) >= 20, sorted(errors)
    assert [name for name, error in errors.items() if not issubclass(error, SpeechlstmError)] == []
    assert all(error.exit_code in (1, 2, 3, 4, 5) for error in errors.values())


BUILTIN_RAISES = {
    ("decode/lm.py", "ValueError"): "a malformed ARPA file; load_lm turns it into ModelFileError",
    ("decode/flashlight.py", "ValueError"): "the ARPA reader's, turned into FlashlightError; and the lexicon "
                                            "decoder's own argument checks",
    ("server/vosk.py", "ValueError"): "JSON that does not parse; _json turns it into ProtocolError",
    ("bundle.py", "ValueError"): "a header section without a value; bundle_from_header turns it into BundleError",
    ("io/atomic.py", "FileNotFoundError"): "an OSError, as open() would raise; callers report OSError as OutputError",
    ("decode/lm_builder.py", "ValueError"): "an n-gram key wider than 64 bits: a limit of the builder's arrays",
    ("scoring.py", "ValueError"): "a caller's mistake (references and hypotheses that do not pair up)",
    ("nn/model.py", "ValueError"): "a head the model lacks; the backends check their heads first",
    ("text.py", "AssertionError"): "unreachable",
    ("numbers.py", "AssertionError"): "unreachable",
}
"""Builtin exceptions raised in the package that are not its errors, each with why."""


def test_every_exception_raised_derives_from_the_base():
    """A ``raise`` of a builtin exception is caught and re-raised as one of the package's errors,
    or it is listed in :data:`BUILTIN_RAISES` with the reason (cli/ turns errors into exit codes)."""
    import builtins
    raised = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                called = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                error = getattr(builtins, getattr(called, "id", ""), None)
                if isinstance(error, type) and issubclass(error, Exception) and not name.startswith("cli/"):
                    raised.add((name, called.id))
    assert sorted(raised - set(BUILTIN_RAISES)) == []
    assert sorted(set(BUILTIN_RAISES) - raised) == [], "listed but no longer raised"


def test_no_system_exit_and_no_argument_parsing_outside_the_cli():
    """Library code raises the package's errors; cli/ alone parses arguments and chooses exit codes."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name.startswith("cli/") or name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name) and node.id == "SystemExit" or \
                    isinstance(node, ast.Attribute) and node.attr == "exit" and getattr(node.value, "id", "") == "sys":
                offenders.append(f"{name}:{node.lineno}: exits")
        if "argparse" in _imports(path):
            offenders.append(f"{name}: imports argparse")
    assert offenders == []


def test_no_workspace_paths_as_option_defaults():
    """../shared is this project's workspace, not a user's: the recipe passes those paths."""
    import argparse

    from speechlstm.cli import build_parser
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    defaults = [(command, action.dest, action.default) for command, parser in commands.choices.items()
                for action in parser._actions if "shared" in str(action.default)]
    assert defaults == []


def test_train_help_needs_no_torch():
    import subprocess
    import sys
    script = ("import sys\n"
              "class BlockTorch:\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              "        if name.split('.')[0] == 'torch':\n"
              "            raise ImportError('torch is blocked in this test')\n"
              "sys.meta_path.insert(0, BlockTorch())\n"
              "from speechlstm.cli import main\n"
              "for command in ('train', 'train-punct'):\n"
              "    try:\n"
              "        main([command, '--help'])\n"
              "    except SystemExit as done:\n"
              "        assert done.code == 0, done.code\n"
              "from speechlstm.nn.train_config import TrainConfig\n"
              "assert TrainConfig(train=['a.tsv'], out='x').hidden > 0\n"
              "sys.exit(main(['train', '--train', 'a.tsv', '--out', 'x']))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "--max-minutes" in done.stdout and "--prompts" in done.stdout
    assert done.returncode == 2 and done.stderr.strip() == (
        "speechlstm: error: training needs torch (pip install 'speechlstm[train]'): torch is blocked in this test")
