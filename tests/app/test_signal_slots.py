"""Qt passes the ``checked`` flag of ``clicked``, ``triggered`` and ``toggled`` to a slot that can
take an argument: a slot whose first parameter is optional (``def save(self, folder=None)``)
then receives ``False`` in it. This scans saeviz/app for such connections, direct or through a
helper that connects a slot it is given, and checks that the scan finds every form of it.
The main-window walk (test_every_action.py) checks the same at run time.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "saeviz" / "app"
SIGNALS = ("clicked", "triggered", "toggled")


@dataclass
class _Scope:
    cls: str | None  # qualified name of the innermost class ("Outer.Inner"), None at module level
    aliases: dict[str, ast.expr] = field(default_factory=dict)  # local name -> expression bound to it


class SlotScan:
    """Finds slots that would receive the checked flag in an optional first parameter."""

    def __init__(self):
        self.functions: dict[tuple[str, str], ast.AST] = {}  # (module, name) -> function
        self.methods: dict[str, dict[str, ast.AST]] = {}  # class name -> method name -> function
        self.bases: dict[str, list[str]] = {}
        self.by_name: dict[str, list[ast.AST]] = {}  # method name -> every definition
        self.sinks: dict[tuple[str | None, str], dict[str, int]] = {}  # helper -> {param: position}
        self.trees: list[tuple[str, str, ast.Module]] = []
        self.findings: list[str] = []

    # -- collecting ----------------------------------------------------------------------------
    def add(self, source: str, filename: str = "<source>") -> None:
        tree = ast.parse(source)
        module = filename
        self.trees.append((module, filename, tree))
        self._collect(tree.body, module, None)

    def _collect(self, body, module: str, cls: str | None) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                name = f"{cls}.{node.name}" if cls else node.name
                self.bases.setdefault(name, []).extend(b.id for b in node.bases if isinstance(b, ast.Name))
                self.bases.setdefault(node.name, []).extend(b.id for b in node.bases if isinstance(b, ast.Name))
                self._collect(node.body, module, name)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if cls is None:
                    self.functions[(module, node.name)] = node
                else:
                    self.methods.setdefault(cls, {})[node.name] = node
                    self.methods.setdefault(cls.rsplit(".", 1)[-1], {})[node.name] = node
                    self.by_name.setdefault(node.name, []).append(node)
                self._collect_sinks(node, module, cls)
                self._collect(node.body, module, cls)

    def _collect_sinks(self, fn, module: str, cls: str | None) -> None:
        """A helper that connects one of its own parameters to a checked signal."""
        params = _positional(fn.args)
        if cls is not None and params:
            params = params[1:]
        names = [p.arg for p in params]
        for node in ast.walk(fn):
            if _is_checked_connect(node) and isinstance(node.args[0], ast.Name) and node.args[0].id in names:
                self.sinks.setdefault((cls if cls else module, fn.name), {})[node.args[0].id] = \
                    names.index(node.args[0].id)

    # -- checking --------------------------------------------------------------------------------
    def run(self) -> list[str]:
        for module, filename, tree in self.trees:
            self._check_body(tree.body, module, filename, _Scope(None))
        return self.findings

    def _check_body(self, body, module, filename, scope: _Scope) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                name = f"{scope.cls}.{node.name}" if scope.cls else node.name
                self._check_body(node.body, module, filename, _Scope(name))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = _Scope(scope.cls)
                self._check_body(node.body, module, filename, inner)
            else:
                self._check_statement(node, module, filename, scope)

    def _check_statement(self, stmt, module, filename, scope: _Scope) -> None:
        nested = []
        for node in _walk_outside_defs(stmt, nested):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                scope.aliases[node.targets[0].id] = node.value
            if _is_checked_connect(node):
                self._check_slot(node.args[0], node, module, filename, scope,
                                 f"{node.func.value.attr}.connect")
            elif isinstance(node, ast.Call):
                self._check_helper_call(node, module, filename, scope)
        for sub in nested:
            self._check_body([sub], module, filename, scope)

    def _check_helper_call(self, call: ast.Call, module, filename, scope: _Scope) -> None:
        func = scope.aliases.get(call.func.id, call.func) if isinstance(call.func, ast.Name) else call.func
        key = None
        if isinstance(func, ast.Attribute) and _is_self(func.value) and scope.cls is not None:
            for cls in self._mro(scope.cls):
                if (cls, func.attr) in self.sinks:
                    key = (cls, func.attr)
                    break
        elif isinstance(func, ast.Name):
            key = (module, func.id)
        if key not in self.sinks:
            return
        for param, position in self.sinks[key].items():
            arg = next((kw.value for kw in call.keywords if kw.arg == param), None)
            if arg is None and position < len(call.args):
                arg = call.args[position]
            if arg is not None:
                self._check_slot(arg, call, module, filename, scope, f"{key[1]}(... {param}) -> connect")

    def _check_slot(self, slot, at, module, filename, scope: _Scope, how: str) -> None:
        skip, bound = 0, set()
        if isinstance(slot, ast.Name) and slot.id in scope.aliases:
            slot = scope.aliases[slot.id]
        if isinstance(slot, ast.Call) and _is_partial(slot.func) and slot.args:
            skip, bound = len(slot.args) - 1, {kw.arg for kw in slot.keywords}
            slot = slot.args[0]
        for fn, is_method in self._resolve(slot, module, scope):
            name = _flag_parameter(fn, is_method, skip, bound)
            if name is not None:
                self.findings.append(f"{filename}:{at.lineno}: {how} -> {ast.unparse(slot)}"
                                     f"({name}=...) receives the checked flag")
                return

    def _resolve(self, slot, module, scope: _Scope):
        if isinstance(slot, ast.Lambda):
            return [(slot, False)]
        if isinstance(slot, ast.Name):
            fn = self.functions.get((module, slot.id))
            return [(fn, False)] if fn is not None else []
        if isinstance(slot, ast.Attribute):
            if _is_self(slot.value) and scope.cls is not None:
                for cls in self._mro(scope.cls):
                    fn = self.methods.get(cls, {}).get(slot.attr)
                    if fn is not None:
                        return [(fn, True)]
                return []
            # a method of another object: judged by every definition of that name in the package
            found = self.by_name.get(slot.attr, [])
            if found and all(_flag_parameter(fn, True, 0, set()) for fn in found):
                return [(found[0], True)]
        return []

    def _mro(self, cls: str):
        seen, todo = [], [cls]
        while todo:
            c = todo.pop(0)
            if c not in seen:
                seen.append(c)
                todo.extend(self.bases.get(c, []))
        return seen


def _positional(args: ast.arguments) -> list[ast.arg]:
    return list(args.posonlyargs) + list(args.args)


def _flag_parameter(fn, is_method: bool, skip: int, bound: set) -> str | None:
    """The name of the optional parameter the checked flag lands in, or None."""
    params = _positional(fn.args)
    defaults = [None] * (len(params) - len(fn.args.defaults)) + list(fn.args.defaults)
    pairs = list(zip(params, defaults))
    if is_method and not isinstance(fn, ast.Lambda):
        pairs = pairs[1:]
    pairs = [p for p in pairs[skip:] if p[0].arg not in bound]
    if not pairs:
        return None
    param, default = pairs[0]
    if default is None:
        return None  # a required parameter is meant to receive the flag
    if isinstance(default, ast.Constant) and isinstance(default.value, bool):
        return None  # ``checked=False`` / ``_=False``: written to absorb the flag
    if isinstance(param.annotation, ast.Name) and param.annotation.id == "bool":
        return None
    return param.arg


def _is_checked_connect(node) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect"
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr in SIGNALS
            and len(node.args) >= 1)


def _is_self(node) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _is_partial(func) -> bool:
    return ((isinstance(func, ast.Name) and func.id == "partial")
            or (isinstance(func, ast.Attribute) and func.attr == "partial"))


def _walk_outside_defs(node, nested: list):
    """``ast.walk`` that stops at nested classes and functions (collected into ``nested``)."""
    todo = [node]
    while todo:
        n = todo.pop(0)
        yield n
        for child in ast.iter_child_nodes(n):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                nested.append(child)
            else:
                todo.append(child)


def scan_sources(sources: dict[str, str]) -> list[str]:
    scan = SlotScan()
    for name, text in sources.items():
        scan.add(textwrap.dedent(text), name)
    return scan.run()


def scan_package(folder: Path) -> list[str]:
    return scan_sources({str(p.relative_to(folder.parents[1])): p.read_text()
                         for p in sorted(folder.rglob("*.py"))})


# -- the app ----------------------------------------------------------------------------------------
def test_no_clicked_triggered_or_toggled_slot_receives_the_flag_in_an_optional_parameter():
    findings = scan_package(APP)
    assert not findings, "Connect a lambda or a slot without parameters:\n" + "\n".join(findings)


# -- the scan itself finds every form -------------------------------------------------------------------
BAD = {
    "method of the same class": """
        class Panel:
            def __init__(self):
                self.button.clicked.connect(self.add_class)
            def add_class(self, name=None):
                pass
        """,
    "method with only optional parameters": """
        class Panel:
            def __init__(self):
                self.act.triggered.connect(self.save)
            def save(self, folder=None, quiet=False):
                pass
        """,
    "module-level function": """
        def export(path=None):
            pass
        def build(act):
            act.triggered.connect(export)
        """,
    "module-level statement": """
        def export(path=None):
            pass
        ACTION.triggered.connect(export)
        """,
    "method of a nested class": """
        class Outer:
            class Inner:
                def __init__(self):
                    self.box.toggled.connect(self.apply)
                def apply(self, value=None):
                    pass
            def apply(self):
                pass
        """,
    "inherited method": """
        class Base:
            def reset(self, seed=None):
                pass
        class Child(Base):
            def __init__(self):
                self.button.clicked.connect(self.reset)
        """,
    "functools.partial": """
        import functools
        class Panel:
            def __init__(self):
                self.button.clicked.connect(functools.partial(self.pick, 3))
            def pick(self, k, scale=None):
                pass
        """,
    "partial leaving the optional parameter first": """
        from functools import partial
        class Panel:
            def __init__(self):
                self.button.clicked.connect(partial(self.pick, k=3))
            def pick(self, scale=None, k=0):
                pass
        """,
    "lambda with an optional first parameter": """
        class Panel:
            def __init__(self):
                self.button.clicked.connect(lambda name=None: print(name))
        """,
    "slot handed to a helper that connects it": """
        class Window:
            def _add_action(self, key, text, slot, shortcut=None):
                act = QAction(text)
                act.triggered.connect(slot)
            def _make_actions(self):
                a = self._add_action
                a("save_project", "&Save project", self.save_project, "Ctrl+Alt+S")
            def save_project(self, folder=None):
                pass
        """,
    "slot handed to a helper by keyword": """
        class Window:
            def _action(self, key, slot=None):
                self.act.triggered.connect(slot)
            def _make(self):
                self._action("open", slot=self.open_path)
            def open_path(self, path=None):
                pass
        """,
    "method of another object": """
        class ClassManager:
            def add_class(self, name=None, color=None):
                pass
        class Window:
            def __init__(self):
                self.button.clicked.connect(self.manager.add_class)
        """,
}

GOOD = {
    "a lambda calling the method": """
        class Panel:
            def __init__(self):
                self.button.clicked.connect(lambda: self.add_class())
            def add_class(self, name=None):
                pass
        """,
    "a parameter written to absorb the flag": """
        class Panel:
            def __init__(self):
                self.act.triggered.connect(lambda _=False, n=3: self.pick(n))
                self.box.toggled.connect(self.show_lines)
            def show_lines(self, on: bool = True):
                pass
            def pick(self, n=None):
                pass
        """,
    "a required first parameter": """
        class Panel:
            def __init__(self):
                self.box.toggled.connect(self.set_visible)
            def set_visible(self, on, animate=None):
                pass
        """,
    "partial filling the optional parameter": """
        from functools import partial
        class Panel:
            def __init__(self):
                self.button.clicked.connect(partial(self.pick, 2))
            def pick(self, k=None):
                pass
        """,
    "a method without parameters": """
        class Window:
            def _add_action(self, key, slot):
                self.act.triggered.connect(slot)
            def _make(self):
                self._add_action("save", self.save)
            def save(self):
                pass
        """,
    "other signals pass their own values": """
        class Panel:
            def __init__(self):
                self.combo.currentIndexChanged.connect(self.refresh)
            def refresh(self, index=None):
                pass
        """,
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_scan_finds(case):
    findings = scan_sources({"case.py": BAD[case]})
    assert len(findings) == 1, findings
    assert "receives the checked flag" in findings[0]


@pytest.mark.parametrize("case", sorted(GOOD))
def test_the_scan_accepts(case):
    assert scan_sources({"case.py": GOOD[case]}) == []


def test_the_scan_follows_methods_across_files():
    findings = scan_sources({
        "base.py": """
            class Editor:
                def undo_all(self, limit=None):
                    pass
            """,
        "panel.py": """
            class Panel(Editor):
                def __init__(self):
                    self.button.clicked.connect(self.undo_all)
            """,
    })
    assert findings and findings[0].startswith("panel.py:4:")
