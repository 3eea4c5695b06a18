"""The layering: the core, the estimator and the CLI import no Qt; every public class and
function of the core says what it is."""
import functools
import importlib
import inspect
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


def _undocumented(obj) -> bool:
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
    # a dataclass without a docstring gets its signature, "Name(field: type, ...)", as one
    return not (doc or "").strip() or (inspect.isclass(obj) and doc.startswith(obj.__name__ + "("))


def _member_doc(member):
    """The docstring of a method, static or class method, or property (``None``: not one)."""
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    if isinstance(member, (property, functools.cached_property)) or inspect.isfunction(member):
        return member.__doc__ or ""
    return None


def _public_methods(cls):
    """(name, docstring) of the public methods and properties ``cls`` defines itself; an
    override of a documented method of a base class has that method's docstring."""
    for attr, member in vars(cls).items():
        doc = None if attr.startswith("_") else _member_doc(member)
        if doc is None:
            continue  # private or dunder, or not a method
        for base in cls.__mro__[1:]:
            if not doc.strip() and attr in vars(base):
                doc = _member_doc(vars(base)[attr]) or ""
        yield attr, doc


def core_classes_and_functions():
    """(qualified name, object) of every public class and function the core defines."""
    root = Path(saeviz.__file__).parent
    names = ["saeviz.core"] + [i.name for i in pkgutil.walk_packages([str(root / "core")], prefix="saeviz.core.")]
    for name in names:
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue  # private, or imported from elsewhere (checked where it is defined)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{name}.{attr}", obj


def test_every_public_class_and_function_of_the_core_has_a_docstring():
    checked, missing = 0, []
    for qualname, obj in core_classes_and_functions():
        checked += 1
        if _undocumented(obj):
            missing.append(qualname)
    assert checked > 200
    assert not missing, "no docstring: " + ", ".join(missing)


def test_every_public_method_of_a_public_core_class_has_a_docstring():
    checked, missing = 0, []
    for qualname, obj in core_classes_and_functions():
        if not inspect.isclass(obj):
            continue
        for attr, doc in _public_methods(obj):
            checked += 1
            if not doc.strip():
                missing.append(f"{qualname}.{attr}")
    assert checked > 200
    assert not missing, f"{len(missing)} without a docstring: " + ", ".join(missing)
