"""The layering: the core, the estimator and the CLI import no Qt."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import saeviz

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {'PySide6', 'pyqtgraph', 'pyvistaqt', 'shiboken6', 'qtpy'}:
            raise ImportError(f'{name} is blocked: the core must stay Qt-free')
sys.meta_path.insert(0, Block())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
print('ok', len(sys.argv) - 1)
"""


def core_modules():
    root = Path(saeviz.__file__).parent
    names = ["saeviz", "saeviz.estimator", "saeviz.cli"]
    for info in pkgutil.walk_packages([str(root / "core")], prefix="saeviz.core."):
        names.append(info.name)
    return names


def test_core_imports_with_qt_blocked():
    names = core_modules()
    assert "saeviz.core.method.training" in names and "saeviz.core.data.digits" in names
    res = subprocess.run([sys.executable, "-c", BLOCKER, *names], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == f"ok {len(names)}"


def test_import_linter_contract():
    root = Path(saeviz.__file__).parent.parent
    exe = Path(sys.executable).parent / "lint-imports"
    res = subprocess.run([str(exe), str(root / "pyproject.toml")], capture_output=True, text=True,
                         cwd=root, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "KEPT" in res.stdout
