"""IDE suggestions over a BlockStore: blocks for the code around a cursor.

``suggest`` reads code around a cursor (parsed with ``ast``, never executed; code being typed is mended first,
``rag_server.mend``), finds names used there but defined nowhere, looks them up as Patch does, fills up with blocks
similar to the code at the cursor, and says on which line each block should be inserted.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import libcst as cst

from indexer.store import SearchHit
from nnrag import pyparse
from rag_server.call_layout import fed_channels_last, needs_channels_first
from rag_server.candidates import (
    Candidate,
    free_what_is_missing,
    from_installed_library,
    import_first,
    importable,
    installed,
    module_lacks,
    standard_import,
    store_candidates,
    torch_nn_replacement,
    with_block_edits,
)
from rag_server.codeops import torch_nn_note, without_future_imports
from rag_server.mend import mended
from rag_server.query import MAX_QUERY_CHARS
from rag_server.scope import analyze, local_typo


NOTHING_TO_INSERT = 0  # a suggestion's insert_line when it is a rewrite to make, not a block to insert


@dataclass
class Suggestion:
    hit: Any  # SearchHit (block, score, match)
    insert_line: int  # 1-based; insert the block before this line; NOTHING_TO_INSERT for a rewrite
    reason: str


@dataclass
class Suggestions:
    """What ``suggest`` found around a cursor."""

    suggestions: list[Suggestion]  # blocks, best first
    undefined_names: list[str]  # names used near the cursor and defined nowhere
    imports: list[str]  # import lines for the undefined names a standard import binds (``F``, ``nn.Conv2d``), as Patch adds them
    # undefined names that misspell a local variable (``scope.local_typo``), with the name meant; no block is offered;
    # an ``nn.X`` read as the torch.nn class it means when the store has no block of that class to offer
    notes: list[str] = dataclasses.field(default_factory=list)


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
            args = node.args if not isinstance(node, ast.ClassDef) else None
            if args is not None:
                for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
                    if a is not None:
                        names.add(a.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


@dataclass
class _Reading:
    """The editor's code as Suggest reads it, and how its lines map back to the editor's."""

    code: str  # mended to parse (``rag_server.mend``), with what binds nothing real made free as Patch does
    tree: ast.Module | None  # None when not even mending makes it parse
    editor_lines: list[int]  # the editor's line of each line of ``code`` (1-based; index 0 unused)
    notes: list[str]  # Patch's notes: imports of nothing removed, ``nn.X`` rewritten
    rewrites: dict[str, str]  # ``nn.Swish`` -> ``nn.SiLU``: an ``nn.X`` torch lacks, read as the class it means

    def editor_line(self, line: int) -> int:
        return self.editor_lines[min(max(line, 1), len(self.editor_lines) - 1)]

    def code_line(self, editor_line: int) -> int:
        """The first line of ``code`` at or after ``editor_line`` (the last one past the end)."""
        return next((i for i in range(1, len(self.editor_lines)) if self.editor_lines[i] >= editor_line), len(self.editor_lines) - 1)


MAX_LINES_DROPPED = 200  # lines one removed import statement may span


def _line_map(code: str, editor: str) -> list[int]:
    """The editor's line of each line of ``code`` (1-based; index 0 unused), where ``code`` is ``editor`` with some
    statements removed and some lines edited in place. Why: Patch's reading drops the lines of imports that bind
    nothing, and every line Suggest reports must point into the editor's file."""
    a, b = code.split("\n"), editor.split("\n")
    out = [0]
    j = 0
    for line in a:
        if j < len(b) and b[j] != line:  # removed lines before it, or the line edited in place
            j = next((k for k in range(j + 1, min(j + MAX_LINES_DROPPED, len(b))) if b[k] == line), j)
        out.append(min(j, len(b) - 1) + 1)
        j += 1
    return out


def _may_bind_nothing(tree: ast.Module) -> bool:
    """Whether Patch's reading (``free_what_is_missing``) could change anything: a top-level import of a module that
    is not installed or relative, or of a name an installed library module lacks, or an ``nn.X`` torch.nn lacks. Why:
    that reading parses the code with libcst twice (3 s for 190,000 characters), and most code needs none of it."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.level or not importable(node.module or "")
                                                 or any(module_lacks(node.module or "", a.name) for a in node.names)):
            return True
        if isinstance(node, ast.Import) and not all(installed(a.name.split(".")[0]) for a in node.names):
            return True
    prefixes = _torch_nn_prefixes(tree)
    return any(isinstance(n, ast.Attribute) and _dotted(n.value) in prefixes and torch_nn_replacement(n.attr) is not None
               for n in ast.walk(tree))


def _dotted(node: ast.expr) -> str:
    """``torch.nn`` for that expression, "" for anything not a dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return ""


def _torch_nn_prefixes(tree: ast.Module) -> set[str]:
    """The dotted names the code reads torch.nn through (``nn``, ``torch.nn``, an alias of it)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.asname or "torch.nn" for a in node.names if a.name == "torch.nn"} | {"torch.nn" for a in node.names if a.name == "torch"}
        elif isinstance(node, ast.ImportFrom) and node.module == "torch":
            out |= {a.asname or a.name for a in node.names if a.name == "nn"}
    return out


def _read(code: str) -> _Reading:
    """``code`` mended line for line until it parses (a ``)`` not typed yet, ``x = self.``, an open string, a line at
    the wrong indent), then read as Patch reads it (``free_what_is_missing``). Why: code in an editor rarely parses,
    and without a parse Suggest could see neither call sites nor lowercase helpers."""
    view = mended(code)
    if view is None:
        return _Reading(code, None, list(range(len(code.split("\n")) + 1)), [], {})
    try:
        tree = pyparse.parse(view)
        if not _may_bind_nothing(tree):
            return _Reading(view, tree, list(range(len(view.split("\n")) + 1)), [], {})
        source, notes, rewrites = free_what_is_missing(view)
        tree = pyparse.parse(source)
    except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError):  # libcst reads less than ``ast``
        source, notes, rewrites, tree = view, [], {}, pyparse.parse(view)
    return _Reading(source, tree, _line_map(source, view), notes, rewrites)


def _undefined_near(code: str, lo: int, hi: int, reading: _Reading | None = None) -> tuple[list[tuple[str, int]], ast.Module | None]:
    """(name, first line of ``reading.code`` it is used on) for names loaded in editor lines [lo, hi] and defined
    nowhere, in order."""
    reading = reading if reading is not None else _read(code)
    tree = reading.tree
    found: dict[str, int] = {}
    if tree is not None:
        defined, stars = _defined_names(tree), _star_modules(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in defined and lo <= reading.editor_line(node.lineno) <= hi:
                if not _star_may_bind(stars, node.id):
                    found[node.id] = min(found.get(node.id, node.lineno), node.lineno)
    else:  # code nothing could mend: fall back to calls of capitalised bare names (``nn.Conv2d(`` is an attribute) bound nowhere
        defined, stars = _bound_in_text(code)
        for lineno, line in enumerate(code.splitlines(), start=1):
            if lo <= lineno <= hi:
                for name in re.findall(r"(?<![\w.])([A-Z]\w*)\s*\(", line):
                    if name not in defined and not hasattr(builtins, name) and not _star_may_bind(stars, name):
                        found.setdefault(name, lineno)
    return sorted(found.items(), key=lambda kv: kv[1]), tree


_IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]+[^\n]+", re.M)
_PARENTHESISED_IMPORT = re.compile(r"\bfrom\s+[\w.]+\s+import\s*\(([^)]*)\)?", re.S)


def _bound_in_text(code: str) -> tuple[set[str], list[str | None]]:
    """Names that class/def/import lines of code that does not parse yet bind, and the modules star-imported. Each
    import line is parsed alone. Why: a regex kept only the first name of ``from timm.layers import DropPath, Mlp``,
    and the editor was told to insert a store copy of the ``Mlp`` it had imported."""
    defined = set(re.findall(r"^\s*(?:class|def)\s+(\w+)", code, flags=re.M)) | set(re.findall(r"\bas\s+(\w+)", code))
    stars: list[str | None] = []
    for line in _IMPORT_LINE.findall(code):
        try:
            node = pyparse.parse(line.strip()).body[0]
        except (SyntaxError, IndexError):
            continue
        for alias in getattr(node, "names", []):
            if alias.name == "*":
                stars.append(node.module if not getattr(node, "level", 0) else None)
            else:
                defined.add((alias.asname or alias.name).split(".")[0])
    for inside in _PARENTHESISED_IMPORT.findall(code):  # ``from m import (a,\n b)``, maybe still open
        defined |= {part.split(" as ")[-1].strip() for part in inside.split(",") if part.strip()}
    return defined, stars


def _imported_as_other_names(tree: ast.Module) -> set[str]:
    """The names ``from m import Mlp as TimmMlp`` imports under another name (``Mlp``). Why: the code has that block
    already, and it was offered as "similar to the code at the cursor"."""
    return {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names if alias.asname}


def _star_modules(tree: ast.Module) -> list[str | None]:
    """Modules of ``from m import *`` statements (None for a relative one)."""
    return [(node.module if not node.level else None) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)]


def _star_may_bind(stars: list[str | None], name: str) -> bool:
    """Whether a star import may bind ``name``: a relative or unknown module may; an installed library binds it unless
    it certainly lacks it (``from torch.nn import *`` binds ``Linear``, which was suggested as timm's ``Linear``)."""
    return any(module is None or not module_lacks(module, name) for module in stars)


def _insert_line(tree: ast.Module | None, code: str, use_line: int) -> int:
    """Before the top-level statement that contains ``use_line``; else after the imports."""
    if tree is None:
        lines = code.splitlines()
        for i in range(min(use_line, len(lines)) - 1, -1, -1):
            if re.match(r"(class|def|async def)\b", lines[i]):
                while i > 0 and lines[i - 1].startswith("@"):  # above the definition's decorators, not between them and it
                    i -= 1
                return i + 1
        return 1
    after_imports = 1
    for node in tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        last = node.end_lineno or node.lineno
        if first <= use_line <= last and not isinstance(node, (ast.Import, ast.ImportFrom)):
            return first
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            after_imports = last + 1
    return after_imports


def _usages(code: str) -> dict[str, Any]:
    """How each free name is used (calls, attributes), as Patch reads it; empty when libcst cannot parse the code."""
    try:
        return dict(analyze(code).free)
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return {}


def _offered_block(cand: Candidate) -> Any:
    """The block to offer for ``cand``, holding the code Patch inserts (``_offered_code``): the stored block, or for a
    helper cut from one (``channel_shuffle`` from ShuffleNetV2's block, ``drop_path`` from DropPath's) a copy holding
    only the helper's scope-closed code. Why: the editor was offered a whole network for a one-line function."""
    block, code = cand.block, _offered_code(cand)
    if cand.symbol == block.name:
        return block if code == block.code else dataclasses.replace(block, code=code)
    return dataclasses.replace(
        block, name=cand.symbol, qualified_name=cand.qualified_name, code=code, content_hash="", struct_hash="",
        signature=_signature_text(cand.code, cand.symbol), docstring="", validation={}, example=None, near_dup_group="",
        params=None, flops=None,
    )


def _insertable(hit: Any) -> Any:
    """``hit`` with its block's code fit to go into the middle of a file (no ``from __future__`` line)."""
    code = without_future_imports(hit.block.code)
    return hit if code == hit.block.code else dataclasses.replace(hit, block=dataclasses.replace(hit.block, code=code))


def _offered_code(cand: Candidate) -> str:
    """What Patch inserts for ``cand``, to go into the editor's file at the suggestion's line: the block with its
    defaults and projection shortcut set (``with_block_edits``), without ``from __future__`` lines, and the line that
    defines the model's name by the block's (``ChannelAttention = ChannelAttn``). Why: the reason said "defaults set
    in the block: norm_layer=nn.BatchNorm2d" over the stored code, which still failed for want of it, and a block
    starting with ``from __future__ import annotations`` made the file a SyntaxError."""
    code = without_future_imports(with_block_edits(cand))
    if cand.symbol != cand.name:
        code = code.rstrip("\n") + "\n\n\n" + (cand.adapter or f"{cand.name} = {cand.symbol}\n")
    return code


def _signature_text(code: str, symbol: str) -> str:
    """``(x, drop_prob=0.0, ...)`` of function ``symbol`` in ``code``; "" for anything else."""
    tree = _parsed_or_none(code)
    func = next((n for n in getattr(tree, "body", []) if isinstance(n, ast.FunctionDef) and n.name == symbol), None)
    return f"({ast.unparse(func.args)})" if func is not None else ""


def _top_level_names(tree: ast.Module | None) -> set[str]:
    """Names a module's top-level classes, functions and assignments bind. Why: a "similar" block whose code defines a
    name the editor's code uses (torchvision's ``ResNet`` brings its own ``BasicBlock``) replaced the block offered
    for it, or the user's own, once inserted ("missing ... 'conv_builder'")."""
    return {name for stmt in getattr(tree, "body", []) for name in _bound_at_top(stmt)}


def _bound_at_top(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return [stmt.name]
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _parsed_or_none(code: str) -> ast.Module | None:
    try:
        return pyparse.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None


NEAR_TIE = 0.25  # score gap under which a canonical library block is preferred (a keyword-overlap point is 1.0)


def _canonical(cand: Candidate) -> bool:
    """A block of an installed library outside its model zoo (``timm.layers``, ``torchvision.ops``, ``torch.nn``):
    the copy the library exports and keeps, not one private to a model file (``timm.models.swiftformer.Mlp``)."""
    return cand.block is not None and from_installed_library(cand.block) and ".models." not in f".{cand.qualified_name}"


def _preferred(cands: list[Candidate], tree: ast.Module | None, name: str) -> Candidate | None:
    """The candidate to offer from Patch's ranking: not a conv-only block where the code feeds ``name`` channels-last
    or tokens (``x.permute(0, 2, 3, 1)`` before ``self.mlp(x)``), and among those scoring within ``NEAR_TIE`` of the
    best that need the same layout as it, a canonical library block first (``_canonical``)."""
    if not cands:
        return None
    if fed_channels_last(tree, name):
        cands = [c for c in cands if c.block is None or not needs_channels_first(c.code, c.symbol)] or cands
    best = cands[0]
    layout = needs_channels_first(best.code, best.symbol)
    near = [c for c in cands if best.score - c.score <= NEAR_TIE and needs_channels_first(c.code, c.symbol) == layout]
    return next((c for c in near if _canonical(c)), best)


CANDIDATES_READ = 4  # Patch's best few candidates per name, for ``_preferred``


def _blocks_for(store: Any, name: str, usage: Any, reading: _Reading) -> tuple[list[tuple[Any, str]], str | None]:
    """The block to suggest for an undefined name (the candidate Patch would insert: name, other spellings, aliases,
    initials, a helper inside a block, meaning), or the import line a stored block imports it by; else a block of
    exactly that name."""
    if usage is None:
        return [(hit, "") for hit in store.lookup_symbol(name, k=1) if hit.block.name == name], None
    cand = _preferred(store_candidates(usage, store, reading.code, limit=CANDIDATES_READ), reading.tree, name)
    if cand is None:
        return [], None
    if cand.block is None:
        return [], cand.import_line
    return [(SearchHit(_offered_block(cand), cand.score, cand.match), f": {_as_editor_reason(cand.reason)}")], None


def _as_editor_reason(reason: str) -> str:
    """Patch's reason for a candidate, as what the editor has to do: Patch edits the model's calls, Suggest cannot.
    Why: "with keywords edited at the call sites (reduction_ratio= -> reduction=)" read as done, and the call kept its
    ``reduction_ratio=`` (TypeError)."""
    return reason.replace(" with keywords edited at the call sites (", " once you edit the keywords of its calls (")


def _why_free(name: str, notes: list[str]) -> str:
    """Patch's note on why ``name`` is free though the code imports it (``from models.common import Conv``), as what
    the editor has to do: Patch removes such an import, Suggest cannot, and its reason said "removed the import ..."
    over a file that still held it (and failed on it once every suggestion was inserted)."""
    note = next((n for n in notes if re.search(rf"(?<![\w.]){re.escape(name)}\b", n)), "")
    note = re.sub(r"^removed ", "remove ", note).replace(", and read ", ", and write ")
    return f" ({note})" if note else ""


def _written_pattern(written: str) -> re.Pattern[str]:
    """Where an editor line uses ``written`` (``nn.Swish``, or the argument-less call ``nn.GlobalAvgPool2d()``)."""
    attribute = re.escape(written.removesuffix("()")).replace(r"\.", r"\s*\.\s*")
    call = r"\s*\(\s*\)" if written.endswith("()") else ""
    return re.compile(rf"(?<![\w.]){attribute}{call}(?!\w)")


def _real_nn_classes(store: Any, reading: _Reading, code: str, lo: int, hi: int) -> list[tuple[str, Suggestion | None, str]]:
    """(``nn.Swish``, the store's block of the class it means as a suggestion or None, Patch's note) for each ``nn.X``
    torch.nn lacks but means a class it has, used in editor lines [lo, hi]: the rewrites ``free_what_is_missing`` makes
    for Patch, so Suggest reads ``nn.Swish`` (``nn.SiLU``) and ``nn.GlobalAvgPool2d()`` (``nn.AdaptiveAvgPool2d(1)``)
    from the same tables. Why: such a name is no free name, and Patch rewrites it: the editor should be told the
    same."""
    lines = code.split("\n")
    out: list[tuple[str, Suggestion | None, str]] = []
    for written, now in reading.rewrites.items():
        pattern = _written_pattern(written)
        used = next((i for i in range(lo, min(hi, len(lines)) + 1) if pattern.search(lines[i - 1])), None)
        if used is None or "." not in now:
            continue  # ``nn.DropPath`` -> a free ``DropPath``: found as any other undefined name
        real = now.rsplit(".", 1)[1].split("(", 1)[0]  # ``AdaptiveAvgPool2d(1)``: the class is AdaptiveAvgPool2d
        hit = next((h for h in store.lookup_symbol(real, k=5) if h.block.name == real and h.block.qualified_name.startswith("torch.nn.")), None)
        note = torch_nn_note(written, now)
        why = f"undefined name {written.removesuffix('()')}: {note}; write {now}, nothing to insert"
        # insert_line 0: nothing to insert (the block is shown for what the code means); the editor's line is in the
        # reason. Why: it said the ``nn.Swish`` line, and inserting SiLU's source there cut the model's class short
        out.append((written.removesuffix("()"), Suggestion(hit, NOTHING_TO_INSERT, f"{why} (line {used})") if hit is not None else None,
                    f"{note} (line {used})"))
    return out


def suggest(store: Any, code: str, cursor_line: int = 0, k: int = 5, context_lines: int = 20) -> Suggestions:
    """Blocks to insert for code around a cursor, the undefined names seen there, and the imports that bind those
    of them a standard import answers (no block is suggested for those: Patch would import them too). Code that does
    not parse is mended first (``_read``), and names imported from modules that do not exist count as undefined.
    Line endings are read as "\n" first (the same line numbers): with lone "\r" endings (an old Mac file) the names
    at the cursor were missed and blocks were placed at line 1, where Patch and Check read the file right."""
    code = code.replace("\r\n", "\n").replace("\r", "\n")
    n_lines = max(1, len(code.splitlines()))
    cursor = cursor_line or n_lines
    lo, hi = max(1, cursor - context_lines), cursor + context_lines
    reading = _read(code)
    undefined, tree = _undefined_near(code, lo, hi, reading)
    suggestions: list[Suggestion] = []
    seen: set[str] = set()
    usages = _usages(reading.code) if tree is not None else {}
    names = [n for n, _ in undefined]
    imports: dict[str, None] = {}  # ordered, each line once
    notes: list[str] = []
    for written, offered, note in _real_nn_classes(store, reading, code, lo, hi):
        names.append(written)
        if offered is not None:
            seen.add(offered.hit.block.content_hash or offered.hit.block.qualified_name)
            suggestions.append(offered)
        else:  # the store holds no torch.nn block to show: the reading itself still reaches the editor
            notes.append(note)
    for_blocks: list[tuple[str, int, Any]] = []
    for name, used_at in undefined:
        usage = usages.get(name)
        line = standard_import(usage) if usage is not None else None
        meant = local_typo(usage) if usage is not None and line is None else []
        if usage is not None and import_first(usage, line):
            imports[line] = None
        elif meant:  # a misspelt local: no block stands for it (Patch leaves it too)
            notes.append(f"{name}: most likely a typo of {' or '.join(meant)} (line {reading.editor_line(used_at)})")
        else:
            for_blocks.append((name, used_at, usage))
    for name, used_at, usage in for_blocks:
        found, import_line = _blocks_for(store, name, usage, reading)
        if import_line is not None:
            imports[import_line] = None
        for hit, why in found:
            key = hit.block.content_hash or hit.block.qualified_name
            if key not in seen:
                seen.add(key)
                line = reading.editor_line(_insert_line(tree, reading.code, used_at))
                suggestions.append(Suggestion(hit, line, f"undefined name {name}{_why_free(name, reading.notes)}{why}"))
        if len(suggestions) >= k:
            return Suggestions(suggestions[:k], names, list(imports), notes)
    window = "\n".join(code.splitlines()[lo - 1 : hi]).strip()
    if window:
        # not a block whose name the code binds already (an imported DropPath), nor a second block of one name
        bound = set(_defined_names(tree)) | _imported_as_other_names(tree) if tree is not None else _bound_in_text(code)[0]
        named = bound | {s.hit.block.name for s in suggestions}
        at = reading.editor_line(_insert_line(tree, reading.code, reading.code_line(cursor)))
        taken = set(names) | _top_level_names(tree)
        for hit in store.search(window[:MAX_QUERY_CHARS], k=3 * k):
            key = hit.block.content_hash or hit.block.qualified_name
            if key not in seen and hit.block.name not in named and not _top_level_names(_parsed_or_none(hit.block.code)) & taken:
                seen.add(key)
                named.add(hit.block.name)
                suggestions.append(Suggestion(_insertable(hit), at, "similar to the code at the cursor"))
            if len(suggestions) >= k:
                break
    return Suggestions(suggestions[:k], names, list(imports), notes)
