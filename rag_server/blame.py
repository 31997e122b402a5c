"""Which inserted block a failed check blames: read from the traceback's frames and the patched code (or, for a
passing check, from the layer its batch warning names).

Patch swaps the blamed candidate first. A frame inside an inserted block blames that block; a frame in the user's
own code blames the inserted blocks that code depends on, nearest line first, because an LLM's model often fails one
line after the block that misbehaved (``x = self.patch_embed(x)`` hands a tuple to the next line's ``x.shape``).
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass
from typing import Any

from nnrag import pyparse
from rag_server.scope import is_self_attr
from sandbox.spec import FIRST_LAYER_AT_FAULT

_FRAME_RE = re.compile(r'File "([^"]+)", line (\d+)')


def _is_library(path: str) -> bool:
    """Whether a traceback frame's file is an installed library's, not the checked code."""
    return "site-packages" in path or path.startswith("/usr/lib")


def _owners(inserted: list[dict[str, Any]]) -> dict[str, str]:
    """Defined name (the block's symbol, or the free name itself) -> the free name it was inserted for."""
    owner: dict[str, str] = {}
    for item in inserted:
        owner[item["symbol"]] = item["name"]
        owner[item["name"]] = item["name"]
    return owner


def _inserted_spans(tree: ast.Module, inserted: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """(first line, last line, free name) of each top-level definition an inserted block brought."""
    owner = _owners(inserted)
    spans: list[tuple[int, int, str]] = []
    for node in tree.body:
        name = getattr(node, "name", None)
        if name in owner:
            spans.append((node.lineno, node.end_lineno or node.lineno, owner[name]))
    return spans


MIN_FAILING_LINE = 20  # shorter lines (``return x``) say nothing about where two blocks differ


def failing_lines(code: str, traceback: str, inserted: list[dict[str, Any]]) -> dict[str, str]:
    """Free name -> the source line, stripped, of the innermost traceback frame inside the block inserted for it.

    Why: a library copies its blocks between files and packages (timm's ConViT ``Block`` and a paper collection's);
    a candidate that holds the very line that failed would fail the same way, so Patch skips it."""
    try:
        tree = pyparse.parse(code)
    except SyntaxError:
        return {}
    lines = code.splitlines()
    spans = _inserted_spans(tree, inserted)
    out: dict[str, str] = {}
    for path, line in reversed(_FRAME_RE.findall(traceback)):
        if _is_library(path) or not 0 < int(line) <= len(lines):
            continue
        text = lines[int(line) - 1].strip()
        for start, end, name in spans:
            if start <= int(line) <= end and name not in out and len(text) >= MIN_FAILING_LINE:
                out[name] = text
    return out


def failing_block(code: str, traceback: str, inserted: list[dict[str, Any]], user_names: set[str]) -> str | None:
    """The free name whose inserted block holds the innermost traceback frame in the patched code, a frame in a helper
    the block brought along (``_ScaledDotProductAttention`` under neuralforecast's ``_MultiheadAttention``) counting for
    the block that called it; None when the failure lies in the user's own lines (``user_names``, module-level code)
    first, or no frame is in the code."""
    try:
        tree = pyparse.parse(code)
    except SyntaxError:
        return None
    spans = _inserted_spans(tree, inserted)
    for path, line in reversed(_FRAME_RE.findall(traceback)):
        if _is_library(path):
            continue
        name = next((name for start, end, name in spans if start <= int(line) <= end), None)
        if name is not None:
            return name
        if _in_user_code(tree, int(line), user_names):
            return None
    return None


def _in_user_code(tree: ast.Module, line: int, user_names: set[str]) -> bool:
    """Whether ``line`` lies in module-level code or in a top-level definition named in ``user_names``."""
    for node in tree.body:
        if node.lineno <= line <= (node.end_lineno or node.lineno) and isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            return node.name in user_names
    return True


def blamed_names(code: str, traceback: str, inserted: list[dict[str, Any]]) -> list[str]:
    """Free names the traceback blames, innermost frame first.

    A frame inside an inserted block blames that block. A frame in the user's own code blames the inserted names that
    code depends on, nearest first (``user_frame_names``): an LLM's ``x = self.patch_embed(x)`` handing a tuple to the
    next line fails on that next line, in code the patch never touched."""
    try:
        tree = pyparse.parse(code)
    except SyntaxError:
        return []
    owner = _owners(inserted)
    spans = _inserted_spans(tree, inserted)
    found: list[str] = [owner[name] for name in refused_calls(traceback) if name in owner]
    for path, line in reversed(_FRAME_RE.findall(traceback)):
        if _is_library(path):
            continue
        in_block = [name for start, end, name in spans if start <= int(line) <= end]
        for name in in_block or user_frame_names(tree, int(line), owner):
            if name not in found:
                found.append(name)
    return found


# "...; it first happens in `pos` (PositionalEncoding in Net)": the classes it sits in, innermost first
_LAYER_AT_FAULT_RE = re.compile(re.escape(FIRST_LAYER_AT_FAULT) + r" `[^`]*` \(([^)]*)\)")


def warned_names(warnings: list[str], inserted: list[dict[str, Any]]) -> list[str]:
    """Free names whose inserted block holds the layer a passing check's batch warning names as the first at fault
    (``sandbox.soundness.first_layer_at_fault``), innermost first. Why: after a position warning Patch swapped blocks
    in score-margin order, and swapped a harmless ``Mlp`` three times before the sequence-first
    ``PositionalEncoding``; a class the block defines as a helper is found through the inserted class holding it."""
    owner = _owners(inserted)
    found: list[str] = []
    for warning in warnings:
        if match := _LAYER_AT_FAULT_RE.search(warning):
            found += [owner[c] for c in match.group(1).split(" in ") if c in owner and owner[c] not in found]
    return found


# "PositionalEncoding.__init__() got an unexpected keyword argument 'max_len'": the class that refused the call's arguments
_REFUSED_CALL_RE = re.compile(r"(\w+)\.__init__\(\) (?:got an unexpected keyword argument|got multiple values for argument|"
                              r"missing \d+ required|takes \d+ positional|takes from \d+ to \d+ positional)")


def refused_calls(traceback: str) -> list[str]:
    """The classes whose constructor the traceback says refused its arguments, last first. Why: such a TypeError is
    raised at the caller's line, in the user's code, which blamed every block that line uses, nearest first; the
    model's ``PositionalEncoding(dim, max_len=64)`` swapped its attention block instead, and Patch gave up saying
    other blocks would not help."""
    return list(dict.fromkeys(reversed(_REFUSED_CALL_RE.findall(traceback))))


def _innermost_def(tree: ast.Module, line: int) -> tuple[ast.AST | None, ast.ClassDef | None]:
    """The innermost function containing ``line`` and the class it is a method of (None when neither)."""
    func: ast.AST | None = None
    cls: ast.ClassDef | None = None
    for node in ast.walk(tree):  # breadth first: an inner definition comes after the one around it
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if not node.lineno <= line <= (node.end_lineno or node.lineno):
            continue
        if isinstance(node, ast.ClassDef):
            cls = node
        else:
            func = node
    return func, cls


def _attribute_owners(cls: ast.ClassDef, owner: dict[str, str]) -> dict[str, list[str]]:
    """``self.attr`` -> the inserted names its assignments in the class use (``self.blocks = nn.Sequential(*[Block(...)])``)."""
    out: dict[str, list[str]] = {}
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        used = [owner[n.id] for n in ast.walk(value) if isinstance(n, ast.Name) and n.id in owner]
        for target in targets:
            if is_self_attr(target):
                out.setdefault(target.attr, []).extend(u for u in used if u not in out.get(target.attr, []))
    return out


def user_frame_names(tree: ast.Module, line: int, owner: dict[str, str]) -> list[str]:
    """Inserted names the user's code at ``line`` depends on, nearest line first: those the line and the lines above
    it in the same function reference, directly or through ``self.attr`` assigned from them."""
    func, cls = _innermost_def(tree, line)
    attributes = _attribute_owners(cls, owner) if cls is not None else {}
    scope: ast.AST = func if func is not None else tree
    by_line: dict[int, list[str]] = {}
    for node in ast.walk(scope):
        at = getattr(node, "lineno", None)
        if at is None or at > line or (func is None and at != line):
            continue
        if isinstance(node, ast.Name) and node.id in owner:
            names = [owner[node.id]]
        elif is_self_attr(node):
            names = attributes.get(node.attr, [])  # type: ignore[attr-defined]
        else:
            continue
        by_line.setdefault(at, []).extend(names)
    out: list[str] = []
    for at in sorted(by_line, reverse=True):
        out += [n for n in by_line[at] if n not in out]
    return out


def called_block(tree: ast.Module, line: int, owner: dict[str, str], failing_layer: str) -> str | None:
    """The inserted name whose instance the user's ``line`` calls (``self.aspp(x)``, ``self.aspp`` built from it) when
    the layer that raised (``failing_layer``, the sandbox's module path: ``aspp.0``) lies inside that instance: the
    block raised in a layer it inherits or holds (torchvision's ``ASPPConv`` is an ``nn.Sequential`` with no
    ``forward`` of its own, so no frame of the traceback lies in its code). None when the line calls no inserted block
    the failing layer belongs to.

    Why: "two different blocks both failed in the model's own code ... other blocks would not fix it" stopped Patch
    where two ``ASPPConv`` copies given an ``ASPP``'s list of rates failed inside their ``nn.Conv2d`` (``aspp.0``)."""
    path = set(failing_layer.split(".")) if failing_layer else set()
    if not path:
        return None
    _, cls = _innermost_def(tree, line)
    attributes = _attribute_owners(cls, owner) if cls is not None else {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node, "lineno", None) == line and is_self_attr(node.func):
            attr = node.func.attr  # type: ignore[attr-defined]
            if attr in path and attributes.get(attr):
                return attributes[attr][0]
    return None


def fails_in_user_code(code: str, traceback: str, user_names: set[str], inserted: list[dict[str, Any]] | None = None,
                       failing_layer: str = "") -> bool:
    """Whether the innermost traceback frame in the patched code lies in the user's own lines: module-level code or a
    top-level definition named in ``user_names`` (what the user's file binds; an inserted block and the helpers it
    brings along bind other names), and the line does not call an ``inserted`` block the ``failing_layer`` belongs to
    (``called_block``). Why: then swapping blocks rarely helps (a Linear sized for another input fails whatever SE
    block precedes it); Patch stops once a second block fails there the same way."""
    try:
        tree = pyparse.parse(code)
    except SyntaxError:
        return False
    lines = len(code.splitlines())
    frames = [int(line) for path, line in _FRAME_RE.findall(traceback) if not _is_library(path) and 0 < int(line) <= lines]
    if not frames:
        return False
    if inserted and called_block(tree, frames[-1], _owners(inserted), failing_layer) is not None:
        return False
    return _in_user_code(tree, frames[-1], user_names)


def user_line_map(user_code: str, patched: str) -> dict[int, int]:
    """Line in ``patched`` -> the line of ``user_code`` it came from, for the lines Patch kept (or edited in place,
    e.g. a keyword renamed at a call); lines it inserted have no entry."""
    matcher = difflib.SequenceMatcher(None, user_code.splitlines(), patched.splitlines(), autojunk=False)
    out: dict[int, int] = {}
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("equal", "replace"):
            for k in range(min(i2 - i1, j2 - j1)):
                out[j1 + k + 1] = i1 + k + 1
    return out


@dataclass
class FailureSite:
    """Where in patched code a failed check raised: its innermost frame there."""

    line: int  # in the patched code
    block: str | None  # the free name whose inserted block (or a helper it brought) holds the line; None: the user's code
    qualified_name: str = ""  # of that block
    helper: str = ""  # the top-level definition holding the line, when it is a helper the block brought, not the block
    called: bool = False  # the line is the user's, calling ``block``, which raised in a layer it holds (``called_block``)


def failure_site(code: str, traceback: str, inserted: list[dict[str, Any]], user_names: set[str],
                 failing_layer: str = "") -> FailureSite | None:
    """The innermost traceback frame in ``code`` (patched), and whether it lies in an inserted block or in the user's
    own lines (module-level code or a top-level definition named in ``user_names``, as ``fails_in_user_code``). Why:
    the sandbox's hint said "the error is raised in the model code" for a line inside a block Patch inserted; the
    user was sent to the wrong code. None when no frame lies in ``code``."""
    try:
        tree = pyparse.parse(code)
    except SyntaxError:
        return None
    n_lines = len(code.splitlines())
    frames = [int(line) for path, line in _FRAME_RE.findall(traceback) if not _is_library(path) and 0 < int(line) <= n_lines]
    if not frames:
        return None
    line = frames[-1]
    owner = _owners(inserted)
    qualified = {item["name"]: str(item.get("qualified_name", "")) for item in inserted}
    body = tree.body
    for index, node in enumerate(body):
        if not node.lineno <= line <= (node.end_lineno or node.lineno):
            continue
        name = getattr(node, "name", None)
        if name is None or name in user_names:
            called = called_block(tree, line, owner, failing_layer)
            return FailureSite(line, called, qualified.get(called, ""), called=True) if called else FailureSite(line, None)
        if name in owner:
            return FailureSite(line, owner[name], qualified.get(owner[name], ""))
        # a helper brought along: its block is the next inserted definition before the user's code resumes
        for later in body[index + 1:]:
            later_name = getattr(later, "name", None)
            if later_name in owner:
                return FailureSite(line, owner[later_name], qualified.get(owner[later_name], ""), helper=name)
            if later_name in user_names:
                break
        return FailureSite(line, "", "", helper=name)
    return FailureSite(line, None)
