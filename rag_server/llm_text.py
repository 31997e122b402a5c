"""Turn raw LLM output into one Python module: strip markdown fences and prose.

LLMs answer with prose around the code, several fenced blocks (helpers, the model, a usage example, a training
loop, a first draft and a corrected one), or bare code. We keep the text untouched when it already parses (so
patching stays byte-identical on good input). Otherwise the text is cut into parts: its fenced Python blocks, or,
without fences, the stretches of lines between prose lines (``Note: ...``, ``Explanation:``, ``Here is the code:``).
The part that defines the model is kept whole, and from the other parts every top-level statement the kept code
uses (a helper class, a function, an import, a constant) is added, until nothing more is found: a definition the user
wrote is never swapped for a store block. A name defined in several parts takes its last definition (a corrected
version follows its first draft). What is dropped is said in ``ExtractedCode.notes``.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass, field

from nnrag import pyparse

FENCE_RE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([\w+.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
# a compound statement's header (``if __name__ == "__main__":``, ``for ...:``, ``try:``) is code too: read as prose,
# a syntax error below it cut the rest of the file off without a word
COMPOUND_HEADER = r"(if|elif|while|for|async for|with|async with|try|else|except|finally)\b[^\n]*:[ \t\r]*(#[^\n]*)?$"
# a triple-quoted string (a module docstring) is code too: read as prose, the docstring was dropped
CODE_START_RE = re.compile(rf"^(import |from \S+ import |class |def |async def |@|[A-Za-z_][\w.]*\s*(=|:|\()|{COMPOUND_HEADER}|[rRbBuUfF]{{0,2}}(\"\"\"|'''))")
# ``Note: this uses SE.`` or ``Explanation:`` match CODE_START_RE as an annotation (``x: int``); code only if it parses
LABEL_RE = re.compile(r"^([A-Za-z_]\w*)\s*:")
PYTHON_TAGS = {"", "python", "py", "python3", "py3", "pytorch", "torch"}
MAX_PARSES = 400  # parse attempts when merging the parts of a plain-text answer (pathological inputs stay fast)


class PatchInputError(ValueError):
    """The input is not usable Python (after stripping prose): says why and on which line."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        where = f" (line {line})" if line else ""
        super().__init__(f"{message}{where}")


@dataclass
class ExtractedCode:
    code: str
    stripped: bool  # True when prose or fences were removed
    blocks_found: int  # number of fenced code blocks seen
    notes: list[str] = field(default_factory=list)  # what was dropped or combined, in words


def _parses(code: str) -> bool:
    try:
        pyparse.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def model_score(code: str) -> tuple[int, int, int, int]:
    """How much a code block looks like the model: parses, nn.Module classes, a forward, length."""
    modules = len(re.findall(r"^\s*class\s+\w+\s*\([^)]*(Module|nn\.)", code, re.MULTILINE))
    has_net = 1 if re.search(r"^\s*class\s+Net\b", code, re.MULTILINE) else 0
    forwards = len(re.findall(r"def\s+forward\s*\(", code))
    return (int(_parses(code)), has_net + modules + forwards, modules, len(code))


def fenced_blocks(text: str) -> list[str]:
    """Bodies of fenced code blocks tagged as Python (or untagged)."""
    return [m.group(3) for m in FENCE_RE.finditer(text) if m.group(2).lower() in PYTHON_TAGS]


def _looks_like_code(line: str) -> bool:
    """A top-level line that starts a statement. ``Note: ...`` and ``Explanation:`` read as annotations by the
    pattern; they are code only when the line parses on its own (``x: int = 3``)."""
    if not CODE_START_RE.match(line):
        return False
    label = LABEL_RE.match(line)
    if label is None or keyword.iskeyword(label.group(1)):
        return True
    return _parses(line.strip())


def _looks_like_prose(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not line[:1].isspace() and not stripped.startswith("#") and not _looks_like_code(line)


# ---------------------------------------------------------------- parts of a plain-text answer


@dataclass
class _Part:
    code: str
    label: str  # "code block 2 of 3", "lines 4-20"
    first_line: int = 1  # line of the input where ``code`` starts (for error messages)
    order: int = 0  # place in the answer (notes follow it)


def _text_parts(text: str) -> tuple[list[_Part], list[_Part]]:
    """The stretches of ``text`` between prose lines that parse, and those that do not.

    A stretch that does not parse on its own is grown over the next prose lines and stretches until it does (prose
    inside a string: ``Usage: ...`` in a module docstring); one that never parses is returned as bad.
    """
    lines = text.splitlines(keepends=True)
    segments: list[tuple[int, int]] = []  # [start, end) runs of lines with no prose line in them
    start = None
    for i, line in enumerate(lines + ["prose\n"]):  # a sentinel prose line closes the last run
        if _looks_like_prose(line):
            if start is not None:
                segments.append((start, i))
            start = None
        elif start is None and line.strip():
            start = i
    good: list[_Part] = []
    bad: list[_Part] = []
    parses = 0
    i = 0
    while i < len(segments):
        for j in range(i, len(segments)):
            parses += 1
            chunk = "".join(lines[segments[i][0]:segments[j][1]]).rstrip() + "\n"  # no blank lines before the prose
            if (j == i or parses <= MAX_PARSES) and _parses(chunk):
                good.append(_Part(chunk, f"lines {segments[i][0] + 1}-{segments[j][1]}", segments[i][0] + 1, segments[i][0]))
                i = j + 1
                break
        else:
            a, b = segments[i]
            bad.append(_Part("".join(lines[a:b]), f"lines {a + 1}-{b}", a + 1, a))
            i += 1
    return good, bad


STRUCTURE_RE = re.compile(rf"^(import |from \S+ import |class |def |async def |@|{COMPOUND_HEADER})")


def _has_structure(part: _Part) -> bool:
    """A stretch with a definition, an import or a compound statement: code for sure. When it does not parse, its
    syntax error is reported rather than the stretch dropped as prose."""
    return any(STRUCTURE_RE.match(line) for line in part.code.splitlines())


def _has_code(part: _Part) -> bool:
    return any(_looks_like_code(line) for line in part.code.splitlines())


def _error_in(part: _Part, prefix: str = "") -> PatchInputError:
    """The syntax error of ``part``, its line counted in the input."""
    try:
        pyparse.parse(part.code)
    except SyntaxError as exc:
        line = exc.lineno + part.first_line - 1 if exc.lineno else None
        return PatchInputError(f"{prefix}syntax error: {exc.msg}", line, exc.offset)
    except ValueError as exc:  # null bytes
        return PatchInputError(f"{prefix}invalid source: {exc}")
    raise AssertionError("the part parses")


# ---------------------------------------------------------------- combining parts


@dataclass
class _Stmt:
    part: int
    first: int  # 0-based line index in its part, decorators included
    end: int  # exclusive
    binds: set[str]
    is_import: bool
    is_definition: bool  # class or def


def _bound_names(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds: its class or def, assignment targets, imports, and those of the statements
    inside ``if`` / ``try`` / ``with`` / ``for`` (``try: import numpy as np``)."""
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return {node.name}
    if isinstance(node, ast.Import):
        return {a.asname or a.name.split(".")[0] for a in node.names}
    if isinstance(node, ast.ImportFrom):
        return {a.asname or a.name for a in node.names if a.name != "*"}
    names: set[str] = set()
    targets: list[ast.AST] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        targets = [node.target]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
    for target in targets:
        names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    for body in ("body", "orelse", "finalbody"):
        for child in getattr(node, body, None) or []:
            names |= _bound_names(child)
    for handler in getattr(node, "handlers", None) or []:
        for child in handler.body:
            names |= _bound_names(child)
    return names


def _statements(index: int, code: str) -> list[_Stmt]:
    out = []
    for node in pyparse.parse(code).body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        out.append(_Stmt(index, first, node.end_lineno or node.lineno, _bound_names(node),
                         isinstance(node, (ast.Import, ast.ImportFrom)) and not _is_future(node),
                         isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))))
    return out


def _is_future(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _module_classes(code: str) -> list[str]:
    """Top-level classes that subclass something from nn (or a Module), in order."""
    return [n.name for n in pyparse.parse(code).body
            if isinstance(n, ast.ClassDef) and any(re.search(r"Module|nn\.", ast.unparse(b)) for b in n.bases)]


def _main_part(parts: list[_Part]) -> int:
    """The part with the model: the last one defining ``Net`` (a later version wins over a first draft), else the last
    part defining the last nn.Module class of the part that looks most like a model, else the most model-like part."""
    classes = [{n.name for n in pyparse.parse(p.code).body if isinstance(n, ast.ClassDef)} for p in parts]
    best = max(range(len(parts)), key=lambda i: (model_score(parts[i].code), i))
    entry = "Net" if any("Net" in c for c in classes) else (_module_classes(parts[best].code) or [None])[-1]
    if entry is None:
        return best
    return max(i for i, c in enumerate(classes) if entry in c)


def _lines(code: str) -> list[str]:
    return [line if line.endswith("\n") else line + "\n" for line in code.splitlines(keepends=True)]


def _free_and_used(code: str) -> tuple[set[str], set[str]]:
    """Names ``code`` uses but never binds (scope analysis, as patching reads them), and every name it reads."""
    from rag_server.scope import analyze

    free = set(analyze(code).free)
    used = {n.id for n in ast.walk(pyparse.parse(code)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return free, used


def _position(s: _Stmt) -> tuple[int, int]:
    return (s.part, s.first)


def _combine(parts: list[_Part]) -> tuple[str, list[tuple[int, str]]]:
    """The main part whole plus the statements of the other parts that it needs (see the module docstring), and
    notes (part index, words) on what was kept from or dropped of the other parts."""
    main = _main_part(parts)
    stmts = {i: _statements(i, p.code) for i, p in enumerate(parts)}
    others = [s for i in range(len(parts)) if i != main for s in stmts[i]]  # in order
    chosen: list[_Stmt] = []
    while True:
        code = _render(parts, main, stmts[main], chosen)
        free, used = _free_and_used(code)
        wanted = []
        for name in sorted(free):  # the last definition of a name wins
            providers = [s for s in others if name in s.binds and s not in chosen]
            if providers:
                wanted.append(providers[-1])
        for name in sorted(used):  # a class or def defined again after the kept one: the later version is meant
            kept = [_position(s) for s in stmts[main] + chosen if name in s.binds]
            later = [s for s in others if s.is_definition and name in s.binds and s not in chosen and kept and _position(s) > max(kept)]
            if later:
                wanted.append(later[-1])
        wanted = [s for k, s in enumerate(wanted) if s not in wanted[:k]]
        if not wanted:
            return code, _notes(parts, main, stmts, chosen)
        chosen.extend(wanted)


def _render(parts: list[_Part], main: int, main_stmts: list[_Stmt], chosen: list[_Stmt]) -> str:
    """The main part's leading docstring and imports, the other parts' imports, their other statements, the rest of
    the main part, and last the definitions from later parts of names the main part defines too (they replace its
    version, as they would in the answer)."""
    if not chosen:
        return parts[main].code
    main_binds = set().union(*(s.binds for s in main_stmts))
    main_lines = _lines(parts[main].code)
    head_end = _preamble_end(parts[main].code)
    ordered = sorted(chosen, key=_position)

    def text(s: _Stmt) -> str:
        return "".join(_lines(parts[s.part].code)[s.first:s.end])

    def replaces_main(s: _Stmt) -> bool:
        return s.part > main and bool(s.binds & main_binds)

    imports = "".join(text(s) for s in ordered if s.is_import)
    before = [text(s) for s in ordered if not s.is_import and not replaces_main(s)]
    after = [text(s) for s in ordered if not s.is_import and replaces_main(s)]
    pieces = ["".join(main_lines[:head_end]) + imports, *before, "".join(main_lines[head_end:]), *after]
    return "\n\n".join(p.strip("\n") + "\n" for p in pieces if p.strip())


def _preamble_end(code: str) -> int:
    """Lines at the top of ``code`` holding only its docstring, ``from __future__`` and other imports."""
    end = 0
    for node in pyparse.parse(code).body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        if not (docstring or isinstance(node, (ast.Import, ast.ImportFrom))):
            break
        end = node.end_lineno or node.lineno
    return end


def _describe(stmts: list[_Stmt], parts: list[_Part]) -> str:
    """``GatedResBlock, 3 imports, 2 other statements (`model = Net()` ...)``."""
    names = [name for s in stmts if s.is_definition for name in sorted(s.binds)]
    imports = sum(s.is_import for s in stmts)
    others = [s for s in stmts if not s.is_import and not s.is_definition]
    words = names[:6] + ([f"{len(names) - 6} more definitions"] if len(names) > 6 else [])
    if imports:
        words.append(f"{imports} import{'s' if imports > 1 else ''}")
    if others:
        first = _lines(parts[others[0].part].code)[others[0].first].strip()
        words.append(f"{len(others)} other statement{'s' if len(others) > 1 else ''} (`{first[:60]}`{' ...' if len(others) > 1 else ''})")
    return ", ".join(words)


def _notes(parts: list[_Part], main: int, stmts: dict[int, list[_Stmt]], chosen: list[_Stmt]) -> list[tuple[int, str]]:
    kept_all = stmts[main] + chosen
    notes = []
    for i, part in enumerate(parts):
        if i == main:
            continue
        kept = [s for s in stmts[i] if s in chosen]
        dropped = [s for s in stmts[i] if s not in chosen]
        superseded = [s for s in dropped if s.is_definition
                      and any(s.binds & k.binds and _position(k) > _position(s) for k in kept_all)]
        words = []
        if kept:
            words.append(f"kept {_describe(kept, parts)}, which the model in {parts[main].label} uses")
        if superseded:
            words.append(f"dropped {_describe(superseded, parts)}, defined again later (the later version is kept)")
        rest = [s for s in dropped if s not in superseded]
        if rest:
            words.append(f"dropped {_describe(rest, parts)}, not used by the model in {parts[main].label}")
        if words:
            notes.append((part.order, f"{part.label}: {'; '.join(words)}"))
    return notes


# ---------------------------------------------------------------- entry point


def syntax_error(code: str) -> PatchInputError | None:
    try:
        pyparse.parse(code)
    except SyntaxError as exc:
        return PatchInputError(f"syntax error: {exc.msg}", exc.lineno, exc.offset)
    except ValueError as exc:  # null bytes
        return PatchInputError(f"invalid source: {exc}")
    return None


def extract_code(text: str) -> ExtractedCode:
    """The Python module inside ``text``; raises PatchInputError (with a line) when there is none."""
    text = text.removeprefix(pyparse.BOM)  # a file saved with a byte-order mark, read as text
    if not text or not text.strip():
        raise PatchInputError("empty input: no Python code")
    if _parses(text):
        return ExtractedCode(text, stripped=False, blocks_found=0)
    blocks = fenced_blocks(text)
    if blocks:
        parts = [_Part(b, f"code block {i} of {len(blocks)}", order=i) for i, b in enumerate(blocks, 1)]
        good = [p for p in parts if _parses(p.code)]
        bad = [p for p in parts if not _parses(p.code) and p.code.strip()]
        # the block most like the model (a later one on a tie: a corrected version) does not parse: say where
        top = max(good + bad, key=lambda p: (model_score(p.code)[1:3], p.order), default=None)
        if top is None:
            raise PatchInputError("empty input: the fenced code blocks hold no code")
        if top in bad and (model_score(top.code)[1] or not good):
            raise _error_in(top, f"in the fenced {top.label}: " if len(blocks) > 1 else "in the fenced code block: ")
    else:
        good, bad = _text_parts(text)
        broken = [p for p in bad if _has_structure(p)]
        if broken:  # code with a syntax error is reported, never cut off as if it were prose
            raise _error_in(broken[0])
        bad = [p for p in bad if _has_code(p)]  # the others are prose (an indented list)
        if not any(model_score(p.code)[1] for p in good):
            raise _error_in(bad[0]) if bad else syntax_error(text) or PatchInputError("no Python code")
    code, notes = _combine(good)
    notes += [(p.order, f"{p.label}: dropped, not valid Python (`{p.code.strip().splitlines()[0][:60]}`)") for p in bad]
    return ExtractedCode(code, stripped=True, blocks_found=len(blocks), notes=[note for _, note in sorted(notes)])
