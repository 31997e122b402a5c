"""Patch an LLM-written model: add the imports and blocks it uses but never defined, then prove it runs.

Pipeline: extract the code from raw LLM text -> free names (libcst scope analysis) ->
well-known aliases become standard imports -> every other name gets ranked
candidates from the block store -> the best combination is spliced in (block
imports merged, the block's helpers renamed on clashes, nothing the user wrote is
changed) -> the sandbox checks it; on failure the candidate the traceback blames (or
the least certain one) is swapped for the next, up to ``max_tries`` checks, and the
attempt that got furthest is returned (latest stage reached; then one that failed in the user's own code over one that
failed inside an inserted block; ties: the earlier), its hint saying which of the two the error is in.
Deterministic: no LLM, no randomness.
"""

from __future__ import annotations

import ast
import difflib
import re
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Sequence

import libcst as cst

from nnrag import pyparse
from rag_server.call_layout import CHANNELS_FIRST, TOKENS, fed_layout, token_id_parameters
from rag_server.blame import (FailureSite, blamed_names, failing_block, failing_lines, failure_site, fails_in_user_code, refused_calls,
                              user_line_map, warned_names)
from rag_server.candidates import (
    ACTIVATION_FLAGS,
    BATCH_FIRST_LAYERS,
    SHORTCUT_DESCRIPTION,
    Candidate,
    call_compatibility,
    definition_signature,
    edited_usage,
    free_what_is_missing,
    import_first,
    layout_stand_in,
    normalize,
    rank_by_coherence,
    says_batch_first,
    standard_import,
    store_candidates,
    with_block_edits,
)
from rag_server.codeops import (
    NO_ACTIVATION,
    add_call_keyword,
    edit_call_keywords,
    import_insert_index,
    import_lines,
    is_import,
    parse_once,
    rename_names,
    split_block,
    statement_bound_names,
    with_blank_lines,
)
from rag_server.llm_text import PatchInputError, extract_code
from rag_server.scope import NameUsage, ScopeReport, alias_binding, analyze, import_bindings, local_typo
from sandbox.diagnose import HiddenClass, may_be_module, unreachable_model
from sandbox.spec import SAMPLE_POSITION, SAMPLES_MIX, STAGES, CheckResult, CheckSpec

__all__ = ["PatchInputError", "PatchResult", "patch", "plan", "apply_plan"]


@dataclass
class PatchResult:
    code: str
    diff: str  # unified diff from the extracted input code to ``code``
    inserted: list[dict[str, Any]]  # {name, symbol, qualified_name, provenance, reason, match, content_hash}
    unresolved: list[str]
    added_imports: list[str]
    check: CheckResult | None
    changed: bool  # ``code`` differs from the input text
    stripped_text: bool = False  # prose or markdown fences were removed from the input
    tries: int = 0  # sandbox checks run
    free_names: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    attempts: list[str] = field(default_factory=list)  # one line per sandbox check, in order
    fixes: list[str] = field(default_factory=list)  # other changes, in words (an import from a missing module removed)
    stop_reason: str = ""  # why Patch stopped trying other blocks before ``max_tries`` (the fault is the user's, time ran out, no candidate left)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["check"] = self.check.to_dict() if self.check is not None else None
        return data


@dataclass
class Plan:
    """What a patch can use: one import per well-known alias, ranked candidates per other name."""

    report: ScopeReport
    imports: dict[str, str]  # free name -> import line
    candidates: dict[str, list[Candidate]]  # free name -> ranked store candidates
    fallback_imports: dict[str, str]  # used when the store has nothing for the name
    unresolved: list[str]
    # changes made before planning (own definitions bound) and names left alone (a misspelt local), in words
    notes: list[str] = field(default_factory=list)
    # torch.nn sequence layers imported where the model does not say what it feeds them (``batch_first_imports``)
    sequence_first: list[str] = field(default_factory=list)


MIN_TYPO_LENGTH = 6  # shorter names one edit apart are often different things (``Block`` / ``Blocks``)


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by exactly one inserted, deleted or replaced character."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def typo_note(usage: NameUsage, meant: list[str]) -> str:
    """What Patch says about a free name that misspells a local (``local_typo``)."""
    options = " or ".join(f"`{m}`" for m in meant)
    return (f"left `{usage.name}` unresolved: line {usage.value_uses[0]} reads `{usage.name}`, which nothing binds; it is "
            f"most likely a typo of {options}, bound in the same function (did you mean {options}?)")


def own_spelling(usage: NameUsage, report: ScopeReport) -> str | None:
    """The class or function the module itself defines that free name ``usage.name`` misspells: the same up to case
    and underscores (``SeBlock`` / ``SEBlock``), or one edit apart in a longer name when its signature serves the
    calls; never across the class / function naming styles (``drop_path`` is not a misspelt ``DropPath``, it is
    the function such a class calls). Why: retrieving a library block for a typo leaves the user's own definition
    unused."""
    body = report.module.body
    style = usage.name.lstrip("_")[:1].isupper()
    defined = [n for n, i in report.top_level.items() if isinstance(body[i], (cst.ClassDef, cst.FunctionDef))
               and body[i].name.value == n and n.lstrip("_")[:1].isupper() == style]
    key = normalize(usage.name)
    same = [n for n in defined if normalize(n) == key]
    if same:
        return same[0]
    if len(key) < MIN_TYPO_LENGTH:
        return None
    code = report.module.code
    near = [n for n in defined if _one_edit_apart(normalize(n), key) and call_compatibility(definition_signature(code, n), usage) > 0]
    return near[0] if len(near) == 1 else None


def bind_own_spellings(report: ScopeReport) -> tuple[ScopeReport, list[str]]:
    """``report`` re-analysed after ``Typo = Own`` lines are placed right after each own definition a free name
    misspells (``own_spelling``), with a note each; ``report`` itself when none is."""
    after: dict[int, list[str]] = {}
    notes: list[str] = []
    for name, usage in report.free.items():
        own = own_spelling(usage, report)
        if own is not None:
            after.setdefault(report.top_level[own], []).append(f"{name} = {own}\n")
            notes.append(f"bound `{name}` to this file's own `{own}` (`{name} = {own}`), which it misspells")
    if not after:
        return report, []
    body: list[cst.CSTNode] = []
    for i, stmt in enumerate(report.module.body):
        body.append(stmt)
        body += [with_blank_lines(cst.parse_statement(line), 1) for line in after.get(i, [])]
    return analyze(report.module.with_changes(body=body).code), notes


def batch_first_imports(report: ScopeReport) -> tuple[ScopeReport, list[str], list[str]]:
    """``report`` re-analysed after ``batch_first=True`` is passed at the calls of each free name that will be imported
    from ``torch.nn`` and reads (sequence, batch, features) by default, where the model feeds its instances
    (batch, tokens, features) (``call_layout.fed_layout``: after an ``nn.Embedding``, a ``Linear`` on tokens) and no
    call says otherwise; with a note each, and a note and the name (third) where the model's code does not say what it
    feeds (``batch_first_if_mixing`` decides those after the check).
    Why: an LLM's ``TransformerEncoderLayer(d_model, nhead)`` fed token embeddings became torch's, whose attention then
    ran across the batch; the check passed."""
    tree = None
    code = report.module.code
    notes: list[str] = []
    undecided: list[str] = []
    for name, usage in report.free.items():
        line = standard_import(usage)
        if name not in BATCH_FIRST_LAYERS or line != f"from torch.nn import {name}" or not import_first(usage, line):
            continue
        if says_batch_first(usage) or not usage.calls:
            continue
        tree = tree or pyparse.parse(code)
        layout = fed_layout(tree, name)
        if layout == TOKENS:
            code = add_call_keyword(code, name, "batch_first", "True")
            notes.append(f"`{name}` is torch.nn's, which reads (sequence, batch, features) unless built batch-first: "
                         f"the model feeds it (batch, tokens, features), so its calls now pass batch_first=True")
        elif layout is None:
            undecided.append(name)
            notes.append(undecided_note(name))
    edited = code != report.module.code
    return (analyze(code) if edited else report), notes, undecided


def undecided_note(name: str) -> str:
    return (f"`{name}` is torch.nn's, which reads (sequence, batch, features) unless built with batch_first=True, and "
            f"nothing in the model says which it feeds: if (batch, sequence, features), pass batch_first=True")


def batch_first_if_mixing(result: PatchResult, original: str, names: list[str], pool: Any, spec: CheckSpec,
                          deadline: float) -> None:
    """Where a passing check warns that samples of a batch mix and the torch.nn sequence layers ``names`` were imported
    without knowing what the model feeds them, check again with ``batch_first=True`` at their calls, and keep that when
    it passes without the warning (the note says so). Why: the mixing warning is how such a layer read batch-first
    input as sequence-first shows; a model whose layout the code does not say still gets the right layer."""
    check = result.check
    if not names or pool is None or check is None or not check.ok or not any(SAMPLES_MIX in w for w in check.warnings):
        return
    if deadline - time.monotonic() < MIN_CHECK_SHARE * spec.timeout_s:
        return
    code = result.code
    for name in names:
        code = add_call_keyword(code, name, "batch_first", "True")
    again = _run_check(pool, code, spec, deadline)
    result.tries += 1
    result.attempts.append(f"{', '.join(names)} batch-first: {_describe(again)}")
    if not again.ok or any(SAMPLES_MIX in w for w in again.warnings):
        return
    result.code, result.check, result.diff = code, again, unified_diff(original, code)
    decided = {undecided_note(n): n for n in names}
    result.fixes = [decided_note(decided[f]) if f in decided else f for f in result.fixes]


def decided_note(name: str) -> str:
    return (f"`{name}` is torch.nn's, which reads (sequence, batch, features) by default: the check found the samples "
            f"of a batch mixing that way and not with batch_first=True, which its calls now pass")


def plan(code: str, store: Any, spec: CheckSpec | None = None) -> Plan:
    """What to import and which blocks to try for each free name of ``code``. ``spec``: the check the patch must pass;
    its example's integer inputs are token ids the blocks that take them must embed (``token_id_parameters``)."""
    report, notes = bind_own_spellings(analyze(code))
    report, batch_notes, sequence_first = batch_first_imports(report)
    notes += batch_notes
    code = report.module.code
    example = spec.example if spec is not None else None
    token_ids = token_id_parameters(code, spec.entry if spec is not None else None,
                                    example.input_dtypes if example is not None else None)
    imports: dict[str, str] = {}
    fallbacks: dict[str, str] = {}
    candidates: dict[str, list[Candidate]] = {}
    unresolved: list[str] = []
    for name, usage in report.free.items():
        line = standard_import(usage)
        if import_first(usage, line):
            imports[name] = line
            continue
        meant = local_typo(usage) if line is None else []
        if meant:  # a misspelt local variable: nothing in the store can stand for it
            unresolved.append(name)
            notes.append(typo_note(usage, meant))
            continue
        found = store_candidates(usage, store, code, token_ids=token_ids) if store is not None else []
        if found:
            candidates[name] = found
        elif line is not None:
            imports[name] = line
        else:
            unresolved.append(name)
        if line is not None:
            fallbacks[name] = line
    return Plan(report, imports, rank_by_coherence(candidates), fallbacks, unresolved, notes, sequence_first)


def _definition_of_name(cand: Candidate, symbol: str) -> str:
    """What defines the model's name once the block's class is in as ``symbol``: an alias, or the candidate's adapter
    with the block renamed; an adapter of the block's own name (``class MapMixer(MapMixer)``) keeps its class name."""
    if not cand.adapter:
        return f"{cand.name} = {symbol}\n"
    if cand.symbol == cand.name:
        return cand.adapter.replace(f"class {cand.name}({cand.symbol}):", f"class {cand.name}({symbol}):", 1)
    return rename_names(cand.adapter, {cand.symbol: symbol})


def _unique_name(base: str, taken: set[str]) -> str:
    for k in range(2, 1000):
        candidate = f"{base}_{k}"
        if candidate not in taken:
            return candidate
    raise RuntimeError(f"no free name for {base}")


def _parse_import(line: str) -> cst.SimpleStatementLine:
    return cst.parse_statement(line + "\n")  # type: ignore[return-value]


def from_import_names(stmt: cst.SimpleStatementLine) -> tuple[str, list[str]] | None:
    """(module, the import's names as written: ``Optional``, ``Tensor as T``) of a single absolute ``from module import
    a, b`` statement, else None (plain imports, relative or star imports, several statements on one line). Why:
    added imports are merged per module, so a patch no longer adds ``from typing import Type`` and then
    ``from typing import Optional, Type``."""
    if len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.ImportFrom):
        return None
    small = stmt.body[0]
    if small.relative or small.module is None or isinstance(small.names, cst.ImportStar):
        return None
    code = cst.Module([]).code_for_node
    aliases = [code(a.name) + (f" as {code(a.asname.name)}" if a.asname is not None else "") for a in small.names]
    return code(small.module), aliases


def apply_plan(code: str, report: ScopeReport, imports: dict[str, str], chosen: list[Candidate]) -> tuple[str, list[dict[str, Any]], list[str]]:
    """Splice ``imports`` and ``chosen`` blocks into ``code``, editing call-site keywords where a chosen block takes
    them under another name, inverted, or not at all (``Candidate.edits``). Returns (code, inserted, added import lines)."""
    module = edit_call_keywords(report.module, {c.name: c.edits for c in chosen})
    body = list(module.body)
    taken: dict[str, str | None] = {}  # bound name -> import target (None for definitions)
    definitions: dict[str, str] = {}  # bound name -> code of its statement (to reuse identical helpers)
    first_insert = min((free.first_statement for free in report.free.values()), default=len(body))
    for i, stmt in enumerate(body):
        if is_import(stmt):
            for small in stmt.body:  # type: ignore[attr-defined]
                for bound, target in import_bindings(small):
                    taken.setdefault(bound, target)
        elif i < first_insert and (alias := alias_binding(stmt, taken)) is not None:  # bound before any block goes in
            taken.setdefault(*alias)
        else:
            for bound in statement_bound_names(stmt):
                taken.setdefault(bound, None)
                definitions.setdefault(bound, module.code_for_node(stmt).strip())

    new_imports: list[str] = []
    before: dict[int, list[cst.CSTNode]] = {}  # original statement index -> statements to insert before it
    inserted: list[dict[str, Any]] = []

    from_lines: dict[str, int] = {}  # module -> index in new_imports of its ``from module import ...`` line

    def add_import(line: str) -> bool:
        stmt = _parse_import(line)
        bindings = [b for small in stmt.body for b in import_bindings(small)]  # type: ignore[arg-type]
        if all(taken.get(b) == t for b, t in bindings):
            return False
        names = from_import_names(stmt)
        if names is None:
            new_imports.append(line)
        else:  # only the names not bound yet, joined to this module's line if one was added already
            module, aliases = names
            fresh = [a for a, (b, t) in zip(aliases, bindings) if taken.get(b) != t]
            if module in from_lines:
                kept = new_imports[from_lines[module]].split(" import ", 1)[1].split(", ")
                fresh = kept + [a for a in fresh if a not in kept]
                new_imports[from_lines[module]] = f"from {module} import {', '.join(fresh)}"
            else:
                from_lines[module] = len(new_imports)
                new_imports.append(f"from {module} import {', '.join(fresh)}")
        for b, t in bindings:
            taken[b] = t
        return True

    for name in sorted(imports, key=lambda n: report.free[n].first_statement if n in report.free else 0):
        if name not in taken:
            add_import(imports[name])

    wanted = {c.name: c for c in chosen}
    for cand in sorted(chosen, key=lambda c: report.free[c.name].first_statement if c.name in report.free else 0):
        if cand.name in taken:  # an earlier block brought it along
            continue
        cand_code = with_block_edits(cand)  # layers the block defaults to None yet calls; a projection shortcut
        block_imports = import_lines(cand_code)
        _, rest, bmod = split_block(cand_code)
        mapping: dict[str, str] = {}
        all_taken = set(taken)
        for bound, target in block_imports:
            if bound in taken and taken[bound] != target:
                # a name the model binds to something else: the block's import goes under another name, the same
                # one for every block that imports the same thing (one ``nn_2``, not ``nn_2``, ``nn_3``, ``nn_4``)
                shared = next((name for name, t in taken.items() if t == target and name.startswith(f"{bound}_")), None)
                mapping[bound] = shared or _unique_name(bound, all_taken | set(mapping.values()))
        reuse: set[str] = set()
        for stmt in rest:
            for bound in statement_bound_names(stmt):
                other = wanted.get(bound)
                if bound not in taken and other is not None and other is not cand and _serves_worse(cand.code, bound, other, report):
                    # this block's own helper has the name of another free name of the model, and the definition chosen
                    # for that name serves the model's calls better (timm's GhostBottleneck brings a GhostModule without
                    # ``relu=``): the helper is renamed inside the block so the model's name gets the chosen definition
                    mapping[bound] = _unique_name(bound, all_taken | set(mapping.values()) | set(wanted))
                if bound not in taken:
                    continue
                if definitions.get(bound) == bmod.code_for_node(stmt).strip():
                    reuse.add(bound)
                else:
                    mapping[bound] = _unique_name(bound, all_taken | set(mapping.values()))
        if cand.adapter and cand.symbol == cand.name and cand.symbol not in mapping:
            # the adapter subclass takes the model's name: the block's class goes under another
            mapping[cand.symbol] = _unique_name(cand.symbol, all_taken | set(mapping.values()) | set(wanted))
        block_code = rename_names(cand_code, mapping) if mapping else cand_code
        symbol = mapping.get(cand.symbol, cand.symbol)
        imp_stmts, rest, bmod = split_block(block_code)
        for stmt in imp_stmts:
            for small in stmt.body:
                if isinstance(small, cst.ImportFrom) and small.module is not None and bmod.code_for_node(small.module) == "__future__":
                    continue
                add_import(bmod.code_for_node(small).strip())
        statements: list[cst.CSTNode] = []
        for stmt in rest:
            bound = statement_bound_names(stmt)
            if bound and bound <= reuse:
                continue
            statements.append(with_blank_lines(stmt, 2 if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)) else 1))
            for b in bound:
                taken[b] = None
                definitions.setdefault(b, bmod.code_for_node(stmt).strip())
        if symbol != cand.name:
            definition = _definition_of_name(cand, symbol)
            statements.append(with_blank_lines(cst.parse_statement(definition), 2 if cand.adapter else 1))
            taken[cand.name] = None
        index = report.free[cand.name].first_statement if cand.name in report.free else len(body)
        before.setdefault(index, []).extend(statements)
        inserted.append(
            {
                "name": cand.name,
                "symbol": symbol,
                "qualified_name": cand.qualified_name,
                "provenance": cand.provenance,
                "reason": cand.reason,
                "match": cand.match,
                "content_hash": getattr(cand.block, "content_hash", ""),
                "renamed": mapping,
                "keyword_renames": cand.edits.renamed,
                "keyword_inverted": cand.edits.inverted,
                "keyword_dropped": list(cand.edits.dropped),
                "keyword_flag_layers": dict(cand.edits.flag_layers),
                "defaults_set": {**cand.defaults, **({"downsample": SHORTCUT_DESCRIPTION} if cand.shortcut else {})},
                "doubts": list(cand.doubts),
            }
        )

    import_at = import_insert_index(module)
    new_body: list[cst.CSTNode] = []
    for i, stmt in enumerate(body):
        if i == import_at:
            new_body.extend(_parse_import(line) for line in new_imports)
        if i in before:
            index_block = before[i]
            new_body.extend(index_block)
            stmt = with_blank_lines(stmt, 2) if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)) else stmt
        new_body.append(stmt)
    if import_at >= len(body):
        new_body.extend(_parse_import(line) for line in new_imports)
    for i, stmts in before.items():
        if i >= len(body):
            new_body.extend(stmts)
    # imports placed first in an import-less module need a blank line before the code
    new_code = module.with_changes(body=new_body).code
    return new_code, inserted, new_imports


def activation_note(cand: Candidate) -> str:
    """In words, what the edits at the calls of ``cand.name`` do to an activation the model switched with a flag:
    turned off through the block's activation layer (``relu=False`` -> ``act_layer=nn.Identity``), or dropped, so that
    the block applies its own whatever the flag said. "" when no activation flag was edited."""
    notes = [f"`{cand.name}(..., {flag}=False)` became `{layer}={NO_ACTIVATION}` and `{flag}=True` the block's default "
             f"`{layer}` ({cand.qualified_name} has no `{flag}=`)" for flag, layer in cand.edits.flag_layers.items()]
    dropped = [k for k in cand.edits.dropped if k in ACTIVATION_FLAGS]
    if dropped:
        notes.append(f"`{', '.join(f'{k}=' for k in dropped)}` dropped at the calls of `{cand.name}`: {cand.qualified_name} "
                     "has no such switch and applies its own activation whatever the flag said")
    return "; ".join(notes)


def _serves_worse(block_code: str, name: str, chosen: Candidate, report: ScopeReport) -> bool:
    """Whether ``block_code``'s own definition of ``name`` serves the model's uses of ``name`` less well than the
    candidate chosen for it (its call-site compatibility is lower)."""
    usage = report.free.get(name)
    if usage is None:
        return False
    usage = edited_usage(usage, chosen.edits)  # the calls as they will read: the edits apply to the model
    return call_compatibility(definition_signature(block_code, name), usage) < chosen.compat


def with_newlines_of(original: str, code: str) -> str:
    """``code`` with Windows line ends when ``original`` used them. Why: the inserted blocks' own lines (their
    docstrings' inner lines) came back with "\n" in a CRLF file: the SDK's ``patched_code`` mixed both."""
    if "\r\n" not in original:
        return code
    return code.replace("\r\n", "\n").replace("\n", "\r\n")


def unified_diff(before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True), "a/model.py", "b/model.py")
    )


def _progress(check: CheckResult | None) -> int:
    if check is None:
        return -1
    if check.ok:
        return len(STAGES) + 1
    return sum(1 for stage in STAGES if check.stages.get(stage) == "ok")


def _warned_of_blocks(check: CheckResult | None, inserted: list[dict[str, Any]]) -> bool:
    """A passing check that warns each sample's output depends on its place in the batch, or that samples mix where
    the warning says an inserted block mixes them. Why Patch tries other blocks then, keeping this pass if none does
    better: labml's sequence-first ``PositionalEncoding`` (``x + pe[:x.shape[0]]``) ran in a batch-first model that
    meant the tutorials' batch-first one, and fightingcv's ``DoubleAttention`` normalises over the batch (``F.softmax``
    with no dim, dim 0 of its 3-D input); each passed. Mixing elsewhere may be the model's own (a graph's nodes)."""
    if check is None or not check.ok:
        return False
    return any(SAMPLE_POSITION in w for w in check.warnings) or bool(
        warned_names([w for w in check.warnings if SAMPLES_MIX in w], inserted))


def _unreachable_model(report: ScopeReport, spec: CheckSpec) -> HiddenClass | None:
    """The model class a check cannot build because the code defines it under ``if __name__ == "__main__":`` or inside
    a function (``sandbox.diagnose.unreachable_model``): the entry named, else ``Net`` or the class no other uses,
    module-level helper modules notwithstanding. Why: a check imports the code as a module, so it built a helper or a
    block Patch inserted as the model, failed, and swapped blocks in vain."""
    try:
        tree = pyparse.parse(report.module.code)
    except (SyntaxError, RecursionError):
        return None
    module_models = [node.name for node in tree.body if isinstance(node, ast.ClassDef) and may_be_module(node)]
    return unreachable_model(tree, spec.entry or "", module_models)


def _past_the_blocks(check: CheckResult | None, code: str, inserted: list[dict[str, Any]], user_names: set[str]) -> int:
    """1 when a failed check raised in the user's own code rather than inside an inserted block: the blocks on its way
    ran, so among checks that failed at the same stage this one got further. Why: a block called with arguments it
    cannot take (``'int' object is not callable``) was returned instead of the block that ran and left only the
    user's own wrong-sized Linear to fix."""
    if check is None or check.ok:
        return 0
    site = failure_site(code, check.traceback or "", inserted, user_names, failing_layer(check))
    return int(site is not None and site.block is None)


LAYER_KINDS = frozenset({"shape_mismatch", "input_rank"})  # diagnoses whose ``symbol`` is the module path that raised


def failing_layer(check: CheckResult) -> str:
    """The module path of the layer a failed check raised in (``aspp.0``), as the sandbox's diagnosis names it; ""."""
    diagnosis = check.diagnosis
    return diagnosis.symbol if diagnosis is not None and diagnosis.kind in LAYER_KINDS else ""


def where_it_fails(site: FailureSite, user_code: str, patched: str) -> str:
    """In words, where a patched model's check raised: inside an inserted block (named) or in the user's own code (at
    the line of the user's file, and of the patched code)."""
    if site.block is None:
        line = user_line_map(user_code, patched).get(site.line)
        mine = f"line {line} of your code, " if line is not None else ""
        text = patched.splitlines()[site.line - 1].strip()
        return f"the error is raised in your own code ({mine}line {site.line} of the patched code: `{text[:120]}`), not in an inserted block"
    if site.block and site.called:
        source = f" ({site.qualified_name})" if site.qualified_name else ""
        text = patched.splitlines()[site.line - 1].strip()
        return (f"the error is raised inside the inserted block `{site.block}`{source}, in a layer it holds, called at "
                f"line {site.line} of the patched code (`{text[:120]}`): the block does not fit how your code calls or uses "
                f"`{site.block}`")
    if site.block:
        what = f"`{site.helper}`, a helper inserted with block `{site.block}`" if site.helper else f"the inserted block `{site.block}`"
        source = f" ({site.qualified_name})" if site.qualified_name else ""
        return (f"the error is raised inside {what}{source}, line {site.line} of the patched code, not in your code: the "
                f"block does not fit how your code calls or uses `{site.block}`")
    return f"the error is raised inside `{site.helper}`, code the patch inserted (line {site.line} of the patched code), not in your code"


MODEL_CODE_HINT = "the error is raised in the model code"  # the sandbox's words, which cannot tell inserted blocks apart


def _say_where_it_fails(result: PatchResult, user_code: str, user_names: set[str]) -> None:
    """Make a failed check's hint say whether the error is in an inserted block or in the user's code (``where_it_fails``)."""
    check = result.check
    if check is None or check.ok or not result.inserted:
        return
    site = failure_site(result.code, check.traceback or "", result.inserted, user_names, failing_layer(check))
    if site is None:
        return
    where = where_it_fails(site, user_code, result.code)
    hint = _label_built_at(check.diagnosis.hint or "", user_code, result.code)
    if MODEL_CODE_HINT in hint:
        check.diagnosis.hint = hint.replace(MODEL_CODE_HINT, where)
    else:
        check.diagnosis.hint = f"{hint}; {where}" if hint else where


_BUILT_AT = re.compile(r"(is built at line )(\d+)(:)")


def _label_built_at(hint: str, user_code: str, patched: str) -> str:
    """The sandbox's "`head` is built at line 69:" counts lines of the patched code it checked: say so, and give the
    line of the user's file. Why: beside "line 15 of your code" an unlabelled 69 read as a line of the user's file."""
    lines = user_line_map(user_code, patched)

    def labelled(m: re.Match) -> str:
        mine = lines.get(int(m.group(2)))
        where = f"line {mine} of your code (line {m.group(2)} of the patched code)" if mine else f"line {m.group(2)} of the patched code"
        return f"is built at {where}{m.group(3)}"
    return _BUILT_AT.sub(labelled, hint)


def _describe(check: CheckResult) -> str:
    if check.ok:
        return "ok" + "".join(f"; warning: {w[:200]}" for w in check.warnings)
    return f"{check.status} at {check.failed_stage}: {check.error_type}: {(check.message or '')[:160]}"


def _run_check(pool: Any, code: str, spec: CheckSpec, deadline: float | None = None) -> CheckResult:
    return pool.check(code, spec) if deadline is None else pool.check(code, spec, deadline=deadline)


# the whole patch's wall-clock budget, in per-check timeouts: enough for several ordinary checks (seconds each), while
# models that hang no longer cost ``max_tries`` full timeouts
PATCH_BUDGET_CHECKS = 3.0
MIN_CHECK_SHARE = 0.25  # a try that would get less than this share of the check's timeout is not started


def _same_failure(a: CheckResult | None, b: CheckResult) -> bool:
    """Two failed checks that failed alike: same status, stage, exception and message."""
    return a is not None and not a.ok and (a.status, a.failed_stage, a.error_type, a.message) == (b.status, b.failed_stage, b.error_type, b.message)


def _users_fault(previous: CheckResult | None, check: CheckResult, code: str, user_names: set[str],
                 previous_blocks: list[Candidate] | None = None, blocks: list[Candidate] | None = None,
                 inserted: list[dict[str, Any]] | None = None) -> str:
    """Why further swaps are pointless, or "": two different block choices (``previous_blocks`` and ``blocks``, the
    candidates of the two checks, differ in what they insert: ``Candidate.identity``) failed alike, in the user's own
    lines (the innermost frame in code the user's file defines) or by a timeout at the same stage (a hang that does not
    depend on the block; its message differs when the budget shortened the second check), or in a block kept in both
    because none of its name was left, which refused the model's call or failed in its own constructor (``inserted``:
    the blocks the patched ``code`` holds). The same class offered twice (stored alone, and cut out of a bigger block)
    is one choice: its second failure says nothing new."""
    if previous_blocks is not None and blocks is not None and any(
        {(c.name, key(c)) for c in previous_blocks} == {(c.name, key(c)) for c in blocks} for key in _SAME_CHOICE
    ):
        return ""
    if previous is not None and check.status == previous.status == "timeout" and check.failed_stage == previous.failed_stage:
        return f"two different blocks both timed out at {check.failed_stage}: the hang is most likely in the model's own code"
    if not _same_failure(previous, check):
        return ""
    refusing = _unswapped_refusing_block(check, previous_blocks or [], blocks or [])
    if refusing is not None:
        return (f"{refusing.name}: {refusing.qualified_name} does not take the model's call ({(check.message or '')[:160]}), "
                f"and the store has no other block of that name left to try: change the call or define {refusing.name}")
    failing = _unswapped_failing_block(check, code, inserted or [], user_names, previous_blocks or [], blocks or [])
    if failing is not None:
        return (f"{failing.name}: {failing.qualified_name} fails in its own constructor with {check.error_type}: "
                f"{(check.message or '')[:160]}, whatever blocks go in beside it, and the store has no other block of "
                f"that name left to try: check the arguments the model passes it, or define {failing.name}")
    if _TUPLE_FOR_TENSOR.search(check.message or "") and blocks:
        return ""  # a block handed the model's code a tuple where it uses one tensor: another block may not
    called = [{"name": c.name, "symbol": c.symbol} for c in blocks or []]
    if fails_in_user_code(code, check.traceback or "", user_names, called, failing_layer(check)):
        return (f"two different blocks both failed in the model's own code at {check.failed_stage} with "
                f"{check.error_type}: {(check.message or '')[:160]}; other blocks would not fix it")
    return ""


# The model's code got a tuple where it uses one tensor ("unsupported operand type(s) for +: 'Tensor' and 'tuple'",
# "'tuple' object has no attribute 'shape'", "must be Tensor, not tuple"): a block's forward returned (output, extra).
# Why not the model's fault: two attention blocks returning (output, weights) failed alike at ``h + self.attn(h, h, h)``,
# and Patch stopped saying other blocks would not fix it.
# ("must be tuple of ints, not Tensor" is the other way round: a tuple was wanted).
_TUPLE_FOR_TENSOR = re.compile(r"'tuple'|\bnot tuple\b")

# Two candidate lists make the same choice when they insert the same code, or the same classes (pytorch-tcn's
# ``TemporalBlock`` stored alone and cut out of its ``TCN`` block: one class, told apart by the imports cut with it)
_SAME_CHOICE = (lambda c: c.identity, lambda c: c.qualified_name)


def _unswapped_refusing_block(check: CheckResult, previous: list[Candidate], current: list[Candidate]) -> Candidate | None:
    """The inserted block whose constructor refused the model's call (``blame.refused_calls``) in both checks, the same
    block both times: swapping was tried on the others because none of its name was left. Why: Patch said "two
    different blocks both failed in the model's own code ... other blocks would not fix it" when the block at fault was
    the one it could not swap (torchvision's video ``PositionalEncoding`` for ``PositionalEncoding(dim, max_len=64)``)."""
    refused = set(refused_calls(check.message or "") + refused_calls(check.traceback or ""))
    kept = {(c.name, c.identity) for c in previous}
    return next((c for c in current if (c.symbol in refused or c.name in refused) and (c.name, c.identity) in kept), None)


def _unswapped_failing_block(check: CheckResult, code: str, inserted: list[dict[str, Any]], user_names: set[str],
                             previous: list[Candidate], current: list[Candidate]) -> Candidate | None:
    """The inserted block that holds the innermost frame of a failure at instantiate (``blame.failing_block``), the
    same block in both checks: swapping was tried on the others because none of its name was left, and its constructor
    reads only the model's arguments. Why: neuralforecast's ``_MultiheadAttention`` for an encoder's
    ``MultiHeadAttention(n_head, d_model, d_k, d_v)`` failed in its constructor (``ZeroDivisionError``), and Patch
    swapped the unrelated ``PositionwiseFeedForward`` three times. Not at forward: there a block's input comes from
    the blocks before it, and another of them may feed it what it needs."""
    if check.failed_stage != "instantiate":
        return None
    name = failing_block(code, check.traceback or "", inserted, user_names)
    kept = {(c.name, c.identity) for c in previous}
    return next((c for c in current if c.name == name and (c.name, c.identity) in kept), None)


# The most characters Patch (and the server's Suggest) reads: libcst's scope analysis takes time and memory in
# proportion (a 400,000-character file took 86 s, a 21 MB one 10 GB and minutes), and a server thread cannot be stopped
# when the call's deadline passes. timm's largest file is 234,000.
MAX_EDITABLE_CHARS = 250_000


def patch(code: str, spec: CheckSpec | None, store: Any, pool: Any | None, max_tries: int = 5, budget_s: float | None = None) -> PatchResult:
    """Make ``code`` executable by importing and inserting what it forgot. See the module docstring.

    ``pool`` None: no sandbox check, the top-ranked candidates are used. ``spec`` None: the
    default CheckSpec (an LLM-written CIFAR-10 classifier, LEMUR contract detected). Code over
    ``MAX_EDITABLE_CHARS`` is a PatchInputError, code nesting too deeply to read a ``pyparse.TooDeep``. ``budget_s``: wall-clock seconds for all its checks together (None:
    ``PATCH_BUDGET_CHECKS`` times the check's timeout); the last check is cut short at it.
    """
    if len(code) > MAX_EDITABLE_CHARS:
        raise PatchInputError(f"{len(code):,} characters; patch takes at most {MAX_EDITABLE_CHARS:,}")
    pyparse.refuse_past(code, pyparse.MAX_TOKEN_DEPTH)  # a TooDeep for 3,000 ``+ x``s, before any parser fails on them
    with parse_once():  # every try splices the same blocks: parse each once
        try:
            return _patch(code, spec, store, pool, max_tries, budget_s)
        except RecursionError as exc:  # the last resort: a reader recursed past what the checks measured
            raise pyparse.too_deep_error(code, exc) from None


def _patch(code: str, spec: CheckSpec | None, store: Any, pool: Any | None, max_tries: int, budget_s: float | None) -> PatchResult:
    started = time.monotonic()
    spec = spec if spec is not None else CheckSpec()
    deadline = started + (budget_s if budget_s is not None else PATCH_BUDGET_CHECKS * spec.timeout_s)
    extracted = extract_code(code)
    # names imported from modules that do not exist become free names, resolved like the others
    source, fixes, _ = free_what_is_missing(extracted.code)  # also ``nn.Swish``, ``nn.DropPath``
    fixes = extracted.notes + fixes  # what taking the code out of LLM text dropped or combined, in words
    the_plan = plan(source, store, spec)
    source = the_plan.report.module.code  # with its own misspelt definitions bound
    fixes += the_plan.notes
    free = list(the_plan.report.free)
    hidden = _unreachable_model(the_plan.report, spec)
    if hidden is not None:  # checked by that name, so the check says why it cannot be built instead of building a helper
        spec = replace(spec, entry=hidden.name)
    # a check that fails for it fails whatever blocks go in: Patch stops after it
    hidden_reason = f"the model class `{hidden.name}` {hidden.why()}: no block can fix that; {hidden.fix()}" if hidden else ""

    def result(new_code: str, inserted: list, added: list, check: CheckResult | None, tries: int, unresolved: list,
               chosen: Sequence[Candidate] = ()) -> PatchResult:
        new_code = with_newlines_of(extracted.code, new_code)
        return PatchResult(
            code=new_code,
            diff=unified_diff(extracted.code, new_code),
            inserted=inserted,
            unresolved=unresolved,
            added_imports=added,
            check=check,
            changed=new_code != code,
            stripped_text=extracted.stripped,
            tries=tries,
            free_names=free,
            elapsed_s=time.monotonic() - started,
            fixes=fixes + [note for c in chosen if (note := activation_note(c))],
        )

    if not free:
        check = _run_check(pool, source, spec, deadline) if pool is not None else None
        done = result(source, [], [], check, int(check is not None), [])
        done.attempts = [f"as given: {_describe(check)}"] if check is not None else []
        done.stop_reason = hidden_reason if check is not None and not check.ok else ""
        return done
    tries = 0
    attempts: list[str] = []
    if pool is not None and hidden is None and not any(u.at_import for u in the_plan.report.free.values()):
        # free names only inside functions: the model may run anyway (dead code); then leave it alone
        first = _run_check(pool, source, spec, deadline)
        tries += 1
        attempts.append(f"as given: {_describe(first)}")
        if first.ok or not (the_plan.candidates or the_plan.imports):  # nothing to add: a second check would repeat it
            done = result(source, [], [], first, tries, list(free) if first.ok else list(the_plan.unresolved))
            done.attempts = attempts
            return done

    choice = {name: 0 for name in the_plan.candidates}
    user_names = set(the_plan.report.top_level)
    best: tuple[tuple[int, int, int], PatchResult] | None = None
    attempted: set[tuple[tuple[str, int], ...]] = set()
    failed_at: dict[str, set[str]] = {}
    previous: CheckResult | None = None  # the last try's check (a different choice of blocks)
    previous_picked: list[Candidate] | None = None  # and the candidates it used
    stop_reason = ""
    while True:
        picked = [the_plan.candidates[n][i] for n, i in choice.items() if i < len(the_plan.candidates[n])]
        chosen = [c for c in picked if c.import_line is None]
        imports = dict(the_plan.imports)
        imports.update({c.name: c.import_line for c in picked if c.import_line is not None})
        for n, i in choice.items():  # a name whose store candidates ran out falls back to its import
            if i >= len(the_plan.candidates[n]) and n in the_plan.fallback_imports:
                imports[n] = the_plan.fallback_imports[n]
        unresolved = list(the_plan.unresolved) + [
            n for n, i in choice.items() if i >= len(the_plan.candidates[n]) and n not in imports
        ]
        new_code, inserted, added = apply_plan(source, the_plan.report, imports, chosen)
        attempted.add(tuple(sorted(choice.items())))
        check = _run_check(pool, new_code, spec, deadline) if pool is not None else None
        tries += int(check is not None)
        if check is not None:
            label = ", ".join(f"{c.name}<-{c.qualified_name}" for c in picked) or "imports only"
            attempts.append(f"{label}: {_describe(check)}")
        current = result(new_code, inserted, added, check, tries, unresolved, chosen)
        warned = bool(chosen) and _warned_of_blocks(check, inserted)
        rank = (_progress(check) - warned, -len(unresolved), _past_the_blocks(check, new_code, inserted, user_names))
        if best is None or rank > best[0]:  # ties: the earlier attempt
            best = (rank, current)
        if check is not None and not check.ok and hidden_reason:
            stop_reason = hidden_reason
            break
        if check is None or (check.ok and not warned) or tries >= max_tries:
            break
        stop_reason = _users_fault(previous, check, new_code, user_names, previous_picked, picked, inserted)
        if not stop_reason and deadline - time.monotonic() < MIN_CHECK_SHARE * spec.timeout_s:  # no time for a real check
            stop_reason = f"the patch's time budget ({deadline - started:.0f} s) is spent"
        if stop_reason:
            break
        previous, previous_picked = check, picked
        nxt = _reshaped_choice(choice, the_plan, check, attempted) or _next_choice(choice, the_plan, new_code, check, inserted,
                                                                                     attempted, failed_at)
        if nxt is None:  # said, not left '' (which reads "did not stop early") with tries to spare and the code failing
            stop_reason = (f"no other block to try: every candidate the store has for {', '.join(sorted(choice))} was tried" if choice
                           else "no block is missing: it fails with the imports it lacked added")
            break
        choice = nxt
    assert best is not None
    final = best[1]
    _say_where_it_fails(final, code, user_names)  # lines of the text the user gave, prose and fences included
    final.attempts = attempts
    final.stop_reason = stop_reason
    final.tries = tries
    batch_first_if_mixing(final, extracted.code, the_plan.sequence_first, pool, spec, deadline)
    final.elapsed_s = time.monotonic() - started
    return final


def _reshaped_choice(choice: dict[str, int], the_plan: Plan, check: CheckResult, attempted: set) -> dict[str, int] | None:
    """The same blocks, with the one whose instance failed on the layout it was fed (the sandbox's shape mismatch in a
    layer of the block's class, on a 3-D or 4-D input) behind a reshaping subclass (``layout_stand_in``), put next in
    its name's candidates; None when that does not apply.

    Why: the model's static reading (``fed_layout``) does not follow instances kept in nested containers (Swin's
    ``stage = nn.Module(); stage.blocks = nn.ModuleList(...)``), so timm's channels-last ``SwinTransformerBlock`` was
    given the model's tokens and failed "not enough values to unpack (expected 4, got 3)"; the check says what it got."""
    diagnosis = check.diagnosis
    if diagnosis is None or diagnosis.kind != "shape_mismatch" or not diagnosis.input_shapes or not diagnosis.input_shapes[0]:
        return None
    fed = {3: TOKENS, 4: CHANNELS_FIRST}.get(len(diagnosis.input_shapes[0]))
    for name, i in choice.items():
        cands = the_plan.candidates[name]
        if i >= len(cands) or diagnosis.layer_type not in (name, cands[i].symbol):
            continue
        adapted = layout_stand_in(cands[i], fed)
        nxt = dict(choice, **{name: i + 1})
        if adapted is cands[i] or tuple(sorted(nxt.items())) in attempted:
            return None
        cands.insert(i + 1, adapted)
        return nxt
    return None


def _next_choice(
    choice: dict[str, int], the_plan: Plan, code: str, check: CheckResult, inserted: list, attempted: set,
    failed_at: dict[str, set[str]],
) -> dict[str, int] | None:
    """Swap the candidate the traceback (or a passing check's batch warning) blames, else the one whose runner-up is
    closest in score; skip candidates that hold a line where one of the name's earlier candidates failed
    (``failed_at``, updated here)."""
    order = blamed_names(code, check.traceback or "", inserted)
    order += [n for n in warned_names(check.warnings, inserted) if n in choice and n not in order]
    missing = re.findall(r"name '(\w+)' is not defined", check.message or "")
    order += [n for n in missing if n in choice and n not in order]

    def margin(name: str) -> float:
        cands, i = the_plan.candidates[name], choice[name]
        if i + 1 >= len(cands):
            return float("inf")
        return cands[i].score - cands[i + 1].score

    order += sorted((n for n in choice if n not in order), key=margin)
    for name, line in failing_lines(code, check.traceback or "", inserted).items():
        failed_at.setdefault(name, set()).add(line)
    for name in order:
        if choice[name] + 1 <= len(the_plan.candidates[name]) - 1 or (
            choice[name] + 1 == len(the_plan.candidates[name]) and name in the_plan.fallback_imports
        ):
            nxt = dict(choice)
            nxt[name] = _next_without(the_plan.candidates[name], choice[name] + 1, failed_at.get(name, set()))
            if tuple(sorted(nxt.items())) not in attempted:
                return nxt
    return None


def _next_without(cands: list[Candidate], start: int, failed_lines: set[str]) -> int:
    """The first candidate from ``start`` whose code holds none of ``failed_lines``, the lines where this name's
    earlier candidates failed (a copy of such a block would fail the same way); ``start`` when every later one does."""
    if not failed_lines:
        return start
    for i in range(start, len(cands)):
        if not any(line.strip() in failed_lines for line in cands[i].code.splitlines()):
            return i
    return start
