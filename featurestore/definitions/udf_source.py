"""On-demand functions as self-contained source code, and back.

A function is stored as its dedented source without decorators, preceded by what
it reads from its module so that it runs the same after loading:

- an installed or standard-library module becomes ``import name`` (``import math``);
- another module (a helper file of the project) is embedded as its source text and
  re-created as a module on load;
- a constant of literal values (numbers, strings, lists, dicts...) becomes an
  assignment;
- a function of an installed module becomes ``from module import name``;
- another plain function (a helper of the project) is stored as its source too, with
  what it reads, recursively.

Anything else (a closure variable, a module-level object) is refused when the view
is defined, with a message saying what to move.

Stored source is data: loading a registry never runs it. ``check_source`` (run at
``apply``) accepts at module level only imports, ``def`` statements (no decorators,
literal defaults), literal constants, aliases of names defined above and embedded
helper modules that follow the same rule; anything else is refused with its line.
``load_function`` compiles and runs that text, in a fresh namespace holding only the
builtins, ``pandas`` (also ``pd``) and ``numpy`` (also ``np``), when the view is first
computed and only once its source is trusted (see ``featurestore.trust``). A source
produced here by ``function_source`` from a function this process imported is the
process's own code: ``is_local_source`` says so. Nothing is pickled.
"""

from __future__ import annotations

import ast
import builtins
import dis
import hashlib
import importlib.util
import inspect
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from featurestore.errors import DefinitionError

__all__ = [
    "check_source",
    "function_source",
    "is_local_source",
    "load_function",
    "source_hash",
    "udf_namespace",
]

_PRESET: Final = frozenset({"pd", "np", "pandas", "numpy"})
_LITERALS: Final = (int, float, str, bytes, bool, type(None), tuple, list, dict, set, frozenset)
_EMBED: Final = "__featurestore_module__"
# sha256 of every source function_source produced in this process: code this process
# imported itself, so running it again from a registry runs nothing new.
_LOCAL_SOURCES: Final[set[str]] = set()


def source_hash(source: str) -> str:
    """The sha256 hex digest of a stored source: what a trust list records."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def is_local_source(source: str) -> bool:
    """True if ``function_source`` produced ``source`` in this process (its own code)."""
    return source_hash(source) in _LOCAL_SOURCES


def _embedded_module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<module {name} stored with an on-demand view>", "exec"), module.__dict__)
    return module


def udf_namespace() -> dict[str, Any]:
    """The globals an on-demand function's stored source is executed in."""
    import numpy as np
    import pandas as pd

    return {
        "__builtins__": builtins,
        "__name__": "featurestore_udf",
        "pd": pd,
        "np": np,
        "pandas": pd,
        "numpy": np,
        _EMBED: _embedded_module,
    }


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _global_names(fn: types.FunctionType) -> list[str]:
    names: set[str] = set()
    for code in _code_objects(fn.__code__):
        for ins in dis.get_instructions(code):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(ins.argval, str):
                names.add(ins.argval)
    return sorted(n for n in names if n not in _PRESET and n != fn.__name__)


_INSTALLED_ROOTS: Final = tuple(
    str(Path(p).resolve())
    for p in {
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["platstdlib"],
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
        sys.base_prefix,
    }
)


def _is_installed(module: types.ModuleType) -> bool:
    """An importable module of the standard library or the environment (not a project file)."""
    name = module.__name__
    if sys.modules.get(name) is not module:
        return False
    file = getattr(module, "__file__", None)
    if file is None:
        return name in sys.builtin_module_names or importlib.util.find_spec(name) is not None
    return str(Path(file).resolve()).startswith(_INSTALLED_ROOTS)


def _is_literal(value: object) -> bool:
    if not isinstance(value, _LITERALS):
        return False
    try:
        return bool(ast.literal_eval(repr(value)) == value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


class _Collector:
    """The statements a function's source needs before it, gathered depth first."""

    def __init__(self, view_name: str) -> None:
        self.view_name = view_name
        self.lines: dict[str, str] = {}
        self.in_progress: set[int] = set()

    def add(self, name: str, line: str, fn_name: str) -> None:
        if self.lines.get(name, line) != line:
            raise DefinitionError(
                f"on-demand view {self.view_name!r}: {fn_name} and a helper it calls use "
                f"{name!r} for different things; rename one"
            )
        self.lines[name] = line

    def function(self, fn: types.FunctionType) -> str:
        """The ``def`` of ``fn``, after adding what it reads to ``lines``."""
        view_name = self.view_name
        if fn.__code__.co_freevars:
            raise DefinitionError(
                f"on-demand view {view_name!r}: {fn.__name__} uses variables of an enclosing "
                f"function ({', '.join(fn.__code__.co_freevars)}); it is stored as source "
                "code, so define it at module level"
            )
        try:
            source = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError) as e:
            raise DefinitionError(
                f"on-demand view {view_name!r}: the source of {fn.__name__} cannot be read "
                f"({e}); define it in a .py file"
            ) from e
        node = ast.parse(source).body[0]
        if not isinstance(node, ast.FunctionDef):
            raise DefinitionError(
                f"on-demand view {view_name!r}: {fn.__name__} must be a plain `def` function"
            )
        self.in_progress.add(id(fn))
        for name in _global_names(fn):
            if name in fn.__globals__:
                self.value(name, fn.__globals__[name], fn.__name__)
            elif not hasattr(builtins, name):
                raise DefinitionError(
                    f"on-demand view {view_name!r}: {fn.__name__} uses the undefined name {name!r}"
                )
        self.in_progress.discard(id(fn))
        return "\n".join(source.splitlines()[node.lineno - 1 : node.end_lineno]) + "\n"

    def value(self, name: str, value: object, fn_name: str) -> None:
        where = f"on-demand view {self.view_name!r}: {fn_name} uses {name!r}"
        if isinstance(value, types.ModuleType):
            if _is_installed(value):
                line = f"import {value.__name__}"
                self.add(name, line if value.__name__ == name else f"{line} as {name}", fn_name)
                return
            file = getattr(value, "__file__", None)
            if file is None or not str(file).endswith(".py"):
                raise DefinitionError(
                    f"{where}, a module whose source cannot be stored; import it inside the function"
                )
            try:
                source = Path(file).read_text()
            except OSError as e:
                raise DefinitionError(f"{where}: cannot read its source {file}: {e}") from e
            self.add(name, f"{name} = {_EMBED}({value.__name__!r}, {source!r})", fn_name)
            return
        if _is_literal(value):
            self.add(name, f"{name} = {value!r}", fn_name)
            return
        module = sys.modules.get(getattr(value, "__module__", "") or "")
        qualname = getattr(value, "__qualname__", "")
        if (
            callable(value)
            and module is not None
            and _is_installed(module)
            and "." not in qualname
            and getattr(module, qualname, None) is value
        ):
            line = f"from {module.__name__} import {qualname}"
            self.add(name, line if qualname == name else f"{line} as {name}", fn_name)
            return
        if isinstance(value, types.FunctionType) and value.__name__ != "<lambda>":
            if id(value) in self.in_progress:
                return  # mutual recursion: the def is being added already
            body = self.function(value)
            self.add(value.__name__, body.rstrip("\n"), fn_name)
            if name != value.__name__:
                self.add(name, f"{name} = {value.__name__}", fn_name)
            return
        raise DefinitionError(
            f"{where}, a module-level {type(value).__name__} that cannot be stored as source; "
            "define or import it inside the function (literal constants, functions, installed "
            "modules and helper modules can be used from module level)"
        )


def function_source(fn: Callable[..., Any], view_name: str) -> str:
    """The self-contained source of ``fn``: what it reads from its module, then its ``def``."""
    if not isinstance(fn, types.FunctionType) or fn.__name__ == "<lambda>":
        raise DefinitionError(
            f"on-demand view {view_name!r}: decorate a function defined with `def`, not {fn!r}"
        )
    collector = _Collector(view_name)
    body = collector.function(fn)
    source = "".join(line + "\n" for line in collector.lines.values()) + body
    check_source(source, view_name)
    _LOCAL_SOURCES.add(source_hash(source))
    return source


_NO_CALLS: Final = (
    ast.Call,
    ast.Lambda,
    ast.NamedExpr,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
)


def _is_literal_node(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _embedded_source(node: ast.expr) -> str | None:
    """The module text of ``__featurestore_module__('name', 'text')``, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == _EMBED
        and not node.keywords
        and len(node.args) == 2
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
    ):
        text = node.args[1]
        assert isinstance(text, ast.Constant)
        return str(text.value)
    return None


def _refusal(node: ast.stmt, where: str) -> str | None:
    """Why a module-level statement is refused (None: allowed); checks embedded modules."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return None
    if isinstance(node, ast.Expr):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None  # a docstring
        return "an expression statement (it would run when the source is loaded)"
    if isinstance(node, ast.FunctionDef):
        if node.decorator_list:
            return f"a decorated function {node.name!r} (decorators run at load)"
        args = node.args
        evaluated: list[ast.expr] = [*args.defaults, *(d for d in args.kw_defaults if d)]
        for default in evaluated:
            if not _is_literal_node(default):
                return f"function {node.name!r} with a default value that is not a literal"
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        annotations = [a.annotation for a in params if a is not None]
        for annotation in [*annotations, node.returns]:
            if annotation is not None and any(
                isinstance(n, _NO_CALLS) for n in ast.walk(annotation)
            ):
                return f"function {node.name!r} with an annotation that calls code"
        return None
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not all(isinstance(t, ast.Name) for t in targets):
            return "an assignment to something other than a plain name"
        value = node.value
        if value is None or _is_literal_node(value) or isinstance(value, ast.Name):
            return None
        embedded = _embedded_source(value)
        if embedded is not None:
            _check_module(embedded, f"{where}, in the helper module embedded at line {node.lineno}")
            return None
        return "an assignment of a value that is not a literal constant"
    kind = type(node).__name__
    return f"a statement of kind {kind!r}"


def _check_module(source: str, where: str) -> None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise DefinitionError(
            f"{where}: the source cannot be parsed: {type(e).__name__}: {e}"
        ) from e
    lines = source.splitlines()
    for node in tree.body:
        why = _refusal(node, where)
        if why is not None:
            decorators = getattr(node, "decorator_list", None)
            line = decorators[0].lineno if decorators else node.lineno
            text = lines[line - 1].strip() if line <= len(lines) else ""
            raise DefinitionError(
                f"{where}: line {line} is refused: {why} ({text[:80]!r}). At module "
                "level an on-demand function's source may hold only imports, `def` "
                "statements and literal constants; move other code inside the function"
            )


def check_source(source: str, view_name: str) -> None:
    """Refuse a stored source that could run code on its own (DefinitionError with the line).

    Allowed at module level: imports, docstrings, undecorated ``def`` statements with
    literal defaults, assignments of literal constants or of a name, and helper modules
    embedded by ``function_source`` that hold only the same. It must end with a ``def``.
    """
    where = f"on-demand view {view_name!r}"
    _check_module(source, where)
    tree = ast.parse(source)
    if not tree.body or not isinstance(tree.body[-1], ast.FunctionDef):
        raise DefinitionError(f"{where}: stored source must end with the function's `def`")


def load_function(source: str, view_name: str) -> Callable[..., Any]:
    """Compile and run a stored source in a fresh namespace: its function.

    This runs the source's code: call it only for a trusted source, when its view is
    computed (``OnDemandFeatureView.udf`` does).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise DefinitionError(f"on-demand view {view_name!r}: stored source is invalid: {e}") from e
    if not tree.body or not isinstance(tree.body[-1], ast.FunctionDef):
        raise DefinitionError(
            f"on-demand view {view_name!r}: stored source must end with the function's `def`"
        )
    check_source(source, view_name)
    namespace = udf_namespace()
    try:
        exec(compile(tree, f"<on-demand view {view_name}>", "exec"), namespace)
    except Exception as e:
        raise DefinitionError(
            f"on-demand view {view_name!r}: its stored source failed to load: "
            f"{type(e).__name__}: {e}"
        ) from e
    fn: Callable[..., Any] = namespace[tree.body[-1].name]
    return fn
