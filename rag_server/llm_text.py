"""Turn raw LLM output into one Python module: strip markdown fences and prose.

LLMs answer with prose around the code, several fenced blocks (a usage example, a
training loop, the model), or bare code. We keep the text untouched when it already
parses (so patching stays byte-identical on good input), otherwise take the fenced
block that defines the model, otherwise the longest stretch of lines that parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nnrag import pyparse

FENCE_RE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([\w+.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
# a compound statement's header (``if __name__ == "__main__":``, ``for ...:``, ``try:``) is code too: read as prose,
# a syntax error below it cut the rest of the file off without a word
COMPOUND_HEADER = r"(if|elif|while|for|async for|with|async with|try|else|except|finally)\b[^\n]*:[ \t\r]*(#[^\n]*)?$"
CODE_START_RE = re.compile(rf"^(import |from \S+ import |class |def |async def |@|[A-Za-z_][\w.]*\s*(=|:|\()|{COMPOUND_HEADER})")
PYTHON_TAGS = {"", "python", "py", "python3", "py3", "pytorch", "torch"}


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


def _looks_like_prose(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not line[:1].isspace() and not CODE_START_RE.match(line) and not stripped.startswith("#")


def _longest_parsing_stretch(text: str) -> str | None:
    """Prose around bare code: from the first code-looking line, cut at the prose line after it.

    Only cuts where the offending line reads as prose (not indented, not code-like), so a
    genuine syntax error inside the code is reported rather than silently dropped.
    """
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if CODE_START_RE.match(line)), None)
    if start is None:
        return None
    end = len(lines)
    while end > start:
        chunk = "".join(lines[start:end])
        try:
            pyparse.parse(chunk)
            return chunk
        except SyntaxError as exc:
            bad = start + (exc.lineno or 1) - 1
            cut = next((i for i in range(min(bad, end - 1), start, -1) if _looks_like_prose(lines[i])), None)
            if cut is None or cut >= end:
                return None
            end = cut
        except ValueError:
            return None
    return None


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
        best = max(blocks, key=model_score)
        if not _parses(best):
            error = syntax_error(best)
            assert error is not None
            raise PatchInputError(f"in the fenced code block: {error.args[0]}", error.line, error.column)
        return ExtractedCode(best, stripped=True, blocks_found=len(blocks))
    stretch = _longest_parsing_stretch(text)
    if stretch is not None and model_score(stretch)[1] > 0:
        return ExtractedCode(stretch, stripped=True, blocks_found=0)
    error = syntax_error(text)
    assert error is not None
    raise error
