"""Code versions derived from what determines an asset's output (no Dagster import).

A partition is skipped when its input checksum and code version equal the
published ones, so a typed version that nobody bumps hides a logic change. Here
the version is a digest of the asset's declaration instead:

- **callables** it holds (staging transform, checks, publication transform, mart
  build and input checksums): the function's source, parsed and unparsed, so a
  comment, a docstring, blank lines, formatting, type annotations or the
  function's own name do not count and any change to the code does; plus, recursively, what the
  function uses by global name: helper functions and classes of the dataset's
  own code, constants (SQL text, column lists, schemas, row rules), the values
  it closes over and its default arguments. A function without source (a
  lambda, a REPL definition) counts by its bytecode, constants and names.
- **plain fields** of the declaration (dataclass values: contract, schemas, keys,
  ordering, write strategy, partition column, ...) and the asset's write spec
  (its definition metadata the IO managers apply). Fields marked
  :data:`UNVERSIONED` (descriptions, group) are documentation and do not count.
- **the platform engine version** :data:`ENGINE_VERSION`.

"The dataset's own code" is ``platform_assets.datasets.*``, ``platform_assets.core.cdc``
(which event of a key wins: dataset semantics the CDC datasets share) and any module
outside the platform and outside installed libraries (a user's module, a test fixture).
The platform's generic machinery (parsing, write strategies, merges, shared
checks: the rest of ``platform_assets``) and libraries are referred to by name
only; their behaviour is covered by :data:`ENGINE_VERSION` (the platform's) and
not at all for libraries (a library upgrade that changes outputs needs an engine
bump or a forced backfill).

Deterministic: the same code gives the same version in every process and on
every machine with the same Python minor version and libraries (no ``id()``, no
``hash()``, no memory addresses; sets are sorted; mappings keep their insertion
order, which Python fixes by the code and which can shape an output, e.g.
column order). Values count by content: plain Python values, dataclasses,
enums, polars schemas, data types, frames and expressions (their exact
serialization); other objects by their ``repr``, and one whose ``repr`` is only
a memory address (or an opaque callable) is refused with an error rather than
hashed. A new Python or polars version may change how source or expressions
serialize, hence versions, once: everything then recomputes (never a missed change).
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import hashlib
import importlib
import inspect
import json
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import polars as pl

ENGINE_VERSION = "3"  # 3: timestamps an ns or ms contract cannot hold are refused (2: issue 17)
"""Bump when the platform changes how outputs are computed from a declaration.

That is, the generic machinery: landing parsing and quarantine rules, the write
strategies (overwrite, merge order, keyed recompute), the shared checks, the
staged artifact format. Every asset's version changes, so every partition is
recomputed on its next run; refactors that keep outputs identical need no bump.
"""

UNVERSIONED = {"code_version": False}
"""``dataclasses.field(metadata=UNVERSIONED)``: a declaration field that is
documentation (description, UI group) and does not count in the version."""

FOLLOWED_CODE = (
    "platform_assets.datasets",
    "platform_assets.core.cdc",
    "platform_assets.core.checks",
)
"""The platform's modules whose code counts by content, as a dataset's own: the CDC rules
(which event wins) and the checks (which days may be published)."""
PLATFORM = "platform_assets"
_T = TypeVar("_T")
DIGITS = 12


class UnversionableValue(TypeError):
    """A value in a declaration whose content cannot be hashed deterministically."""


@dataclass(frozen=True)
class CodeVersion:
    """An asset's derived code version and the digest of each part that went into it."""

    value: str
    parts: dict[str, str]

    def describe(self) -> str:
        """``part digest`` pairs, e.g. ``engine 1, stage 3fa2c0d1e9b4, ...``."""
        return ", ".join(f"{name} {digest}" for name, digest in self.parts.items())


def derive_code_version(kind: str, declaration: object, **extra: object) -> CodeVersion:
    """The code version of an asset of ``kind`` built from ``declaration`` and ``extra``.

    Each versioned field of a dataclass ``declaration`` (or ``declaration`` itself)
    and each ``extra`` value is one part, digested on its own (the parts are shown
    in the UI); the version digests the engine version, ``kind`` and the parts.
    """
    values: dict[str, object] = {}
    if dataclasses.is_dataclass(declaration) and not isinstance(declaration, type):
        for item in dataclasses.fields(declaration):
            if item.metadata.get("code_version", True):
                values[item.name] = getattr(declaration, item.name)
    else:
        values["declaration"] = declaration
    values |= extra
    parts = {"engine": ENGINE_VERSION}
    parts |= {name: fingerprint(value) for name, value in values.items()}
    return CodeVersion(_digest(["version", kind, parts]), parts)


def fingerprint(value: object) -> str:
    """A short, deterministic digest of ``value`` (see the module docstring)."""
    return _digest(_canonical(value, ()))


def _digest(structure: object) -> str:
    text = json.dumps(structure, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGITS]


Stack = tuple[str, ...]


def _canonical(value: object, stack: Stack) -> object:  # noqa: C901, PLR0911, PLR0912
    """``value`` as a JSON-able structure that names its content, never its identity."""
    if value is None or type(value) in (bool, int, str):
        return value
    if isinstance(value, enum.Enum):  # before str and int: StrEnum and IntEnum are both
        return ["enum", type(value).__name__, _canonical(value.value, stack)]
    if isinstance(value, bool | int | str):
        return [type(value).__qualname__, str(value)]
    if isinstance(value, float):
        return ["float", repr(value)]
    if isinstance(value, bytes | bytearray):
        return ["bytes", bytes(value).hex()]
    if isinstance(value, pl.Expr):
        return ["expr", _expression(value)]
    if isinstance(value, pl.DataType) or _is_dtype_class(value):
        return ["dtype", repr(value)]
    if isinstance(value, pl.DataFrame | pl.Series):  # a lookup table: by content
        frame = value.to_frame() if isinstance(value, pl.Series) else value
        return ["frame", _canonical(frame.schema, stack), _canonical(frame.rows(), stack)]
    if isinstance(value, types.ModuleType):
        return ["module", _module_name(value.__name__)]
    if isinstance(value, Mapping):
        return ["map", [[_canonical(k, stack), _canonical(v, stack)] for k, v in value.items()]]
    if isinstance(value, set | frozenset):
        items = [_canonical(item, stack) for item in value]
        return ["set", sorted(items, key=lambda item: json.dumps(item, sort_keys=True))]
    if isinstance(value, list | tuple):
        return [type(value).__name__, [_canonical(item, stack) for item in value]]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [
            [f.name, _canonical(getattr(value, f.name), stack)]
            for f in dataclasses.fields(value)
            if f.metadata.get("code_version", True)
        ]
        return ["dataclass", type(value).__name__, fields]
    if isinstance(value, functools.partial):
        return [
            "partial",
            _canonical(value.func, stack),
            _canonical(value.args, stack),
            _canonical(value.keywords, stack),
        ]
    if isinstance(value, types.MethodType):
        return ["method", _canonical(value.__func__, stack), _canonical(value.__self__, stack)]
    if isinstance(value, types.FunctionType):
        return _function(value, stack)
    if isinstance(value, type):
        return _class(value, stack)
    if isinstance(value, types.BuiltinFunctionType):
        return ["builtin", value.__qualname__]
    if is_dataset_code(type(value).__module__) and hasattr(value, "__dict__"):
        return ["object", _class(type(value), stack), _canonical(vars(value), stack)]
    text = repr(value)
    if " at 0x" in text or callable(value):
        raise UnversionableValue(
            f"cannot derive a code version from {text[:200]} ({type(value).__qualname__}): "
            "use a function, a dataclass or plain values in a declaration"
        )
    return ["repr", type(value).__qualname__, text]


def _module_name(name: str) -> str:
    """A library module by name; the platform's by its last component, so moving a module
    inside the package (from its top into ``orchestration/``, say) is no change."""
    if name == PLATFORM or name.startswith(PLATFORM + "."):
        return f"{PLATFORM}:{name.rsplit('.', 1)[-1]}"
    return name


def _is_dtype_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, pl.DataType)


def _expression(expr: pl.Expr) -> str:
    """A polars expression's exact serialization (its display truncates long lists)."""
    try:
        return expr.meta.serialize(format="json")
    except Exception as exc:
        raise UnversionableValue(
            f"cannot derive a code version from the polars expression {expr}: {exc}; "
            "use native expressions (no Python UDFs) in a declaration"
        ) from exc


@functools.cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    names = ("stdlib", "platstdlib", "purelib", "platlib")
    return tuple(str(Path(paths[name]).resolve()) for name in names if name in paths)


def is_dataset_code(module_name: str, file: str | None = None) -> bool:
    """Whether code of ``module_name`` (loaded from ``file``) is followed into.

    :data:`FOLLOWED_CODE` and modules that are neither the platform's machinery nor an
    installed library (a user module, a test fixture) are.
    """
    if any(module_name == m or module_name.startswith(m + ".") for m in FOLLOWED_CODE):
        return True
    if module_name == PLATFORM or module_name.startswith(PLATFORM + "."):
        return False
    file = file or getattr(sys.modules.get(module_name), "__file__", None)
    if file is None:
        return module_name == "__main__"
    where = str(Path(file).resolve())
    if "site-packages" in where or "dist-packages" in where:
        return False
    return not any(where.startswith(root) for root in _library_roots())


def _function(fn: types.FunctionType, stack: Stack) -> object:
    """A function's normalized source and, recursively, what it uses by global name."""
    if not is_dataset_code(fn.__module__, fn.__globals__.get("__file__")):
        return ["ref", fn.__qualname__]  # the platform's (engine version) or a library's
    key = f"{fn.__module__}.{fn.__qualname__}"
    if key in stack:
        return ["recursion", fn.__qualname__]
    stack = (*stack, key)
    names = sorted(_global_names(fn.__code__))
    scope = [(name, fn.__globals__[name]) for name in names if name in fn.__globals__]
    scope += sorted(_local_imports(fn).items())  # ``from x import y`` inside the body
    uses = []
    for name, used in scope:
        uses.append([name, _canonical(used, stack)])
        if isinstance(used, types.ModuleType) and is_dataset_code(
            used.__name__, getattr(used, "__file__", None)
        ):
            # ``schema.STAGING_COLUMNS``: the dataset module's attributes the code names
            for attribute in names:
                if attribute != name and attribute in vars(used):
                    value = vars(used)[attribute]
                    uses.append([f"{name}.{attribute}", _canonical(value, stack)])
    cells = zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True)
    closure = [[name, _canonical(_cell(cell), stack)] for name, cell in cells]
    defaults = [_canonical(fn.__defaults__, stack), _canonical(fn.__kwdefaults__, stack)]
    return ["function", _body(fn), uses, closure, defaults]


def _local_imports(fn: types.FunctionType) -> dict[str, object]:
    """Names bound by imports inside the function's body, with what they refer to (a name
    that cannot be imported counts by its import statement, which is in the source)."""
    package = (
        fn.__module__
        if hasattr(sys.modules.get(fn.__module__), "__path__")
        else (fn.__module__.rpartition(".")[0])
    )
    bound: dict[str, object] = {}
    for module, name, asname in _source_of(fn)[1]:
        if name is None:  # ``import a.b [as c]``
            top = module if asname else module.partition(".")[0]
            bound[asname or top] = _imported(top, None)
        else:
            bound[asname or name] = _imported(module, name, package)
    return bound


Imports = tuple[tuple[str, str | None, str | None], ...]
_PARSED: dict[int, tuple[object, object]] = {}


def _once(key: object, parse: Callable[[], _T]) -> _T:
    """``parse()``, once per ``key`` by identity (the key is kept alive with the result, so
    its id is not reused): code objects compare equal by value, and two equal ones may
    come from different source (another file, other decorators, a module reloaded)."""
    found = _PARSED.get(id(key))
    if found is None:
        found = _PARSED[id(key)] = (key, parse())
    return found[1]


def _source_of(fn: types.FunctionType) -> tuple[str | None, Imports]:
    """A function's normalized source (None when it has none, or is not a ``def``) and its
    body's imports as (module, name, alias), parsed once per code object: each asset's
    version walks the same helpers, and parsing them was most of building the code location."""
    return _once(inspect.unwrap(fn).__code__, lambda: _parse_source(fn))


def _parse_source(fn: types.FunctionType) -> tuple[str | None, Imports]:
    try:  # by the function, not its code: inspect finds a function's module at once
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None, ()
    imports: list[tuple[str, str | None, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports += [(alias.name, None, alias.asname) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            imports += [(module, alias.name, alias.asname) for alias in node.names]
    first = tree.body[0]
    body = None
    if isinstance(first, ast.FunctionDef | ast.AsyncFunctionDef):
        body = _normalized(first, rename=True)
    return body, tuple(imports)


def _imported(module: str, name: str | None, package: str | None = None) -> object:
    """``module`` (or its attribute or submodule ``name``), imported as the code would."""
    try:
        found = importlib.import_module(module, package)
        if name is None:
            return found
        if hasattr(found, name):
            return getattr(found, name)
        return importlib.import_module(f"{found.__name__}.{name}")
    except ImportError:
        return f"<unresolved import {module} {name or ''}>"


def _cell(cell: types.CellType) -> object:
    try:
        return cell.cell_contents
    except ValueError:
        return "<empty cell>"


def _global_names(code: types.CodeType) -> set[str]:
    """Every name the code (and code nested in it: comprehensions, lambdas) loads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _class(cls: type, stack: Stack) -> object:
    """A class of the dataset's code: its source and its members (methods with what they
    use, class attributes); another class by name."""
    key = f"{cls.__module__}.{cls.__qualname__}"
    if not is_dataset_code(cls.__module__) or key in stack:
        return ["class", cls.__qualname__]
    stack = (*stack, key)
    source = _class_source(cls)
    members = []
    for name, member in sorted(vars(cls).items()):
        dunder = name.startswith("__") and name.endswith("__")
        if dunder and not isinstance(member, types.FunctionType):
            continue  # __module__, __doc__, __dict__, ...: not code
        if isinstance(member, staticmethod | classmethod):
            member = member.__func__
        if isinstance(member, property):
            member = (member.fget, member.fset, member.fdel)
        try:
            members.append([name, _canonical(member, stack)])
        except UnversionableValue:  # an exotic descriptor: its source line counts
            members.append([name, ["member", type(member).__qualname__]])
    return ["class", cls.__qualname__, source, members]


def _class_source(cls: type) -> str | None:
    """A class's normalized source (None without source), once per class."""

    def parse() -> str | None:
        try:
            return _normalized(ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0])
        except (OSError, TypeError, SyntaxError):
            return None

    return _once(cls, parse)


def _body(fn: types.FunctionType) -> object:
    """The function's source without comments, docstrings, formatting, type annotations or
    its own name."""
    if fn.__name__ != "<lambda>":
        source = _source_of(fn)[0]
        if source is not None:
            return ["source", source]
    return ["bytecode", _code(fn.__code__)]


def _normalized(node: ast.stmt, rename: bool = False) -> str:
    """Unparsed source without docstrings and argument/return annotations."""
    for item in ast.walk(node):
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = item.body
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    item.body = body[1:] or [ast.Pass()]
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            item.returns = None
        if isinstance(item, ast.arg):
            item.annotation = None
    if rename and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        node.name = "_"
    return ast.unparse(node)


def _code(code: types.CodeType) -> object:
    """A code object without source: bytecode, constants (nested code too) and names."""
    consts = [_code(c) if isinstance(c, types.CodeType) else _constant(c) for c in code.co_consts]
    return [code.co_code.hex(), consts, list(code.co_names), code.co_argcount]


def _constant(value: object) -> object:
    try:
        return _canonical(value, ())
    except UnversionableValue:
        return ["repr", type(value).__qualname__]
