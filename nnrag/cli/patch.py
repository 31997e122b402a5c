"""``nnrag patch``: add the imports and blocks an LLM-written model forgot (in-process)."""

from __future__ import annotations

import codecs
import io
import json
import re
import sys
import tokenize
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from nnrag.cli.check import parse_input_dtypes, parse_init_kwargs, parse_shape, read_code
from nnrag.cli.output import terminal_text
from nnrag.cli.remote import remote_client
from nnrag.cli.stores import open_filtered_store, stored_source_specs
from nnrag.pyparse import MAX_TOKEN_DEPTH, TooDeep, refuse_past, too_deep_error
from rag_server.block_filter import LicensePolicy
from sandbox.spec import INPUT_DTYPES, is_verdict

if TYPE_CHECKING:
    from rag_server.patch import PatchResult
    from sandbox.spec import CheckResult, CheckSpec


def _diff_with_newlines_of(original: str, diff: str) -> str:
    """``diff`` (of "\n" texts) with Windows line ends on its content lines when ``original`` used them, as the diff
    of the CRLF texts reads (its ``---``/``+++``/``@@`` lines end in "\n"). Why: ``--json`` gave CRLF files an LF-only
    diff, unlike the SDK and the server."""
    if "\r\n" not in original:
        return diff
    lines = re.findall(r"[^\n]*\n|[^\n]+$", diff)  # split at "\n" only: a form feed in a line is no line end

    def keeps_lf(i: int, line: str) -> bool:
        return (i < 2 and line.startswith(("--- ", "+++ "))) or line.startswith("@@") or not line.endswith("\n")

    return "".join(line if keeps_lf(i, line) else line[:-1] + "\r\n" for i, line in enumerate(lines))


def verdict_line(check: CheckResult) -> str:
    """What ``nnrag patch`` says of its check. Why: a worker that died read "crashed at None: WorkerError ...", as if the
    model had crashed; an outcome that is no verdict on the code says so."""
    if check.ok:
        return "ok"
    line = f"{check.status}{f' at {check.failed_stage}' if check.failed_stage else ''}: {check.error_type}: {check.message}"
    if not is_verdict(check):
        line += " (the checker, the machine or a deadline ended the check: not a verdict on the code; try again)"
    return line


COOKIE_RE = re.compile(r"^([ \t\f]*#.*?coding[:=][ \t]*)([-\w.]+)", re.MULTILINE)


def _encoded(code: str) -> tuple[bytes, str | None]:
    """The bytes to write for ``code``, and a note when its coding cookie had to change. Why: a latin-1 file (read
    through its ``# -*- coding: latin-1 -*-``) came back as UTF-8 under the same cookie, so Python read mojibake. The
    output is in the encoding its cookie names; where a character does not encode (an inserted block's), the cookie
    is rewritten to utf-8."""
    utf8 = code.encode("utf-8", "surrogateescape")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(utf8).readline)  # the cookie Python honours (lines 1-2)
    except SyntaxError:  # a cookie naming no known codec: Python cannot run the file either way; left as it is
        return utf8, None
    if codecs.lookup(encoding).name == "utf-8":
        return utf8, None
    try:
        return code.encode(encoding), None
    except UnicodeEncodeError as exc:
        lines = code.split("\n", 2)
        for i, line in enumerate(lines[:2]):
            if COOKIE_RE.match(line):
                lines[i] = COOKIE_RE.sub(r"\g<1>utf-8", line, count=1)
                break
        bad = exc.object[exc.start:exc.end]
        return "\n".join(lines).encode("utf-8", "surrogateescape"), (
            f"written as UTF-8 with its coding cookie changed to utf-8: {bad!r} cannot be written in {encoding}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app."""

    @app.command("patch")
    def patch_command(
        source: str = typer.Argument(..., help="Model file, or - for stdin (raw LLM output is fine)."),
        check: bool = typer.Option(False, "--check", help="Check in the sandbox; try other candidates on failure."),
        input_shape: Optional[list[str]] = typer.Option(
            None, "--input-shape", help="Input shape like 2,3,32,32 (repeat for several inputs)."
        ),
        input_dtype: Optional[list[str]] = typer.Option(
            None, "--input-dtype", help=f"dtype of each input, one per --input-shape: {', '.join(INPUT_DTYPES)} "
            "(default float32; int64 inputs are token ids in [0, 10))."
        ),
        init_kwargs: Optional[str] = typer.Option(None, "--init-kwargs", help='Constructor kwargs as JSON, e.g. \'{"num_classes": 10}\'.'),
        entry: Optional[str] = typer.Option(None, "--entry", help="Class, factory or instance to build (default as in nnrag check)."),
        max_tries: int = typer.Option(5, "--max-tries", min=1, max=50, help="Most sandbox checks per patch."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of the code."),
        block_source: Optional[list[str]] = typer.Option(None, "--source", help="Insert only blocks from these source specs (repeat).", callback=stored_source_specs),
        license_policy: Optional[LicensePolicy] = typer.Option(
            None, "--license-policy", help="Licenses an inserted block's source may carry "
            "(default from settings).",
        ),
        store_dir: Optional[Path] = typer.Option(None, "--store", help="Block store directory (default from settings)."),
        server: Optional[str] = typer.Option(None, "--server", help="Patch on a running nnrag server at host:port instead of in-process."),
    ) -> None:
        """Patch FILE: add missing imports and the blocks it uses but never defines. Exits 1 when the result does not
        run: a name left unresolved, or the check (--check) failed."""
        from nnrag.settings import get_settings
        from rag_server.patch import PatchInputError, patch
        from sandbox.spec import CheckSpec, Example

        policy = license_policy.value if license_policy is not None else None
        dtypes = parse_input_dtypes(input_dtype, input_shape)  # as ``nnrag check`` reads them, checked before any work
        kwargs = parse_init_kwargs(init_kwargs) if init_kwargs else None
        original = read_code(source)  # as Python reads it (BOM, coding cookie), newlines as they are
        text = original.replace("\r\n", "\n")  # patched as "\n" text; its line ends are given back on output
        _refuse_long_chains(text)
        settings = get_settings()
        spec = CheckSpec(entry=entry, timeout_s=settings.check_timeout_s, memory_mb=settings.check_memory_mb)
        if input_shape or kwargs:
            spec.example = Example()
            if input_shape:
                spec.example.inputs = [parse_shape(s) for s in input_shape]
                spec.example.input_dtypes = dtypes
            if kwargs:
                spec.example.init_kwargs = kwargs
        if server:
            result = _remote_patch(server, text, spec, check, max_tries, block_source, policy)
        else:
            allowed = open_filtered_store(store_dir, block_source, policy)
            pool = None
            try:
                if check:
                    from sandbox.pool import CheckerPool

                    pool = CheckerPool(size=1)
                try:
                    result = patch(text, spec, allowed, pool, max_tries=max_tries)
                except (PatchInputError, ValueError) as exc:
                    typer.echo(f"error: {exc}", err=True)
                    raise typer.Exit(2) from None
                except RecursionError as exc:  # the last resort: a reader recursed past what the checks measured
                    typer.echo(f"error: {too_deep_error(text, exc)}", err=True)
                    raise typer.Exit(2) from None
            finally:
                if pool is not None:
                    pool.close()
        from rag_server.patch import with_newlines_of

        if as_json:
            data = result.to_dict()
            data["code"] = with_newlines_of(original, result.code)  # the code read from a file may have lost its CRs
            data["diff"] = _diff_with_newlines_of(original, result.diff)
            if not check:
                data["check"] = None
            typer.echo(json.dumps(data, indent=2, default=str))
        else:
            code = with_newlines_of(original, result.code)
            data, encoding_note = _encoded(code if code.endswith("\n") else code + "\n")
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            if encoding_note:
                typer.echo(f"# {encoding_note}", err=True)
            if result.stripped_text:
                typer.echo("# kept only the Python code: prose or markdown fences around it were removed (--json has stripped_text)", err=True)
            from rag_server.codeops import KeywordEdits, describe_defaults

            for item in result.inserted:
                edits = KeywordEdits(item.get("keyword_renames") or {}, item.get("keyword_inverted") or {}, tuple(item.get("keyword_dropped") or ()),
                                     item.get("keyword_flag_layers") or {}).describe()
                defaults = describe_defaults(item.get("defaults_set") or {})
                typer.echo(f"# inserted {item['name']} <- {item['qualified_name']} ({item['match']}{_license_note(item)})"
                           f"{f'; keywords edited at its calls: {edits}' if edits else ''}"
                           f"{f'; defaults set in the block: {defaults}' if defaults else ''}", err=True)
                for doubt in item.get("doubts") or ():
                    typer.echo(f"#   doubt about {item['name']}: {doubt}", err=True)
            for line in result.added_imports:
                typer.echo(f"# added import: {line}", err=True)
            for fix in result.fixes:
                typer.echo(f"# {fix}", err=True)
            if result.unresolved:
                typer.echo(f"# unresolved: {', '.join(result.unresolved)} (no stored block or import fits: the file "
                           "still fails where it uses them; define them)", err=True)
            if result.check is not None:
                from rag_server.convert import strings_mapped

                c = strings_mapped(result.check, terminal_text)  # the checked code's own text: no escape sequence reaches the terminal
                typer.echo(f"# check: {verdict_line(c)}", err=True)
                if not c.ok and c.diagnosis.hint:
                    typer.echo(f"# hint: {c.diagnosis.hint}", err=True)
                for warning in c.warnings:  # a passing model that will likely train badly (samples mixing, no gradient)
                    typer.echo(f"# check warning: {warning}", err=True)
            if result.stop_reason:
                typer.echo(f"# stopped trying other blocks: {terminal_text(result.stop_reason)}", err=True)
        if result.unresolved or (result.check is not None and not result.check.ok):
            raise typer.Exit(1)  # the patched file does not run: a script must not train it (unresolved names raise NameError)


def _refuse_long_chains(text: str) -> None:
    """Exit 2 naming the line when ``text`` chains or nests past what a parser takes, before the store is opened or
    any parser runs. Why: a 3,000-term ``x + x + ...`` ended in a RecursionError traceback (exit 1); 1,000 chained
    ``.clone()`` calls took libcst seconds. What nests less deeply but still too deep is refused inside the patch."""
    try:
        refuse_past(text, MAX_TOKEN_DEPTH)
    except TooDeep as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _license_note(item: dict) -> str:
    """``; license AGPL-3.0`` for an inserted block whose source declares one: the pasted code is under it."""
    prov = item.get("provenance")
    lic = (prov.get("license") if isinstance(prov, dict) else getattr(prov, "license", "")) or ""
    return f"; license {lic}" if lic else ""


def _remote_patch(server: str, text: str, spec: CheckSpec, check: bool, max_tries: int, sources: list[str] | None = None,
                  license_policy: str | None = None) -> PatchResult:
    """``--server``: the same PatchResult, computed by the server (its sandbox does the checks)."""
    from dataclasses import fields

    from rag_server.patch import PatchResult

    with remote_client(server) as client:
        o = client.patch(text, spec, no_check=not check, max_tries=max_tries, sources=sources, license_policy=license_policy)
    # the patch's entries: every field the SDK's InsertedBlock carries (so none added later is left out here, as
    # keyword_flag_layers was), but ``source``, which the SDK reads off the provenance
    inserted = [{f.name: getattr(i, f.name) for f in fields(i) if f.name != "source"} for i in o.inserted]
    return PatchResult(code=o.patched_code, diff=o.diff, inserted=inserted, unresolved=o.unresolved, added_imports=o.added_imports, fixes=o.fixes,
                       check=o.after, changed=o.changed, stripped_text=o.stripped_text, tries=o.tries, elapsed_s=o.took_ms / 1000.0,
                       attempts=o.attempts, stop_reason=o.stop_reason, free_names=o.free_names)
