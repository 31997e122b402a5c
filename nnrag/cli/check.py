"""``nnrag check``, ``nnrag audit`` and ``nnrag doctor``: the sandboxed executability checker.

``check`` runs in-process on a local pool, or over gRPC with ``--server ADDR``
(``_check_remote``). ``audit`` reads a source (directory of .py files, JSONL of
{"name", "code"}, or ``lemur``), checks every unique code once, resumably, and writes a
markdown + HTML report; with ``--server`` the checks stream through the server's Audit
RPC (``_remote_checker``) while the source, the resumable JSONL and the report stay local.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Iterator, NoReturn, Optional

import typer

from nnrag.cli.output import print_table
from nnrag.cli.remote import remote_client
from nnrag.pyparse import MAX_COMPILE_DEPTH, MAX_DEPTH, Nesting, TooDeep, decode_source, refuse_past, too_deep_message
from rag_server.convert import MAX_DIMS as MAX_SHAPE_DIMS  # the server's limits on an input shape: beyond them a check
from rag_server.convert import MAX_INPUT_ELEMENTS as MAX_SHAPE_ELEMENTS  # would fail in the sandbox as the model's fault
from sandbox.audit import SourceItem
from sandbox.pool import MAX_MEMORY_MB, MAX_TIMEOUT_S, MIN_TIMEOUT_S, WALL_FACTOR
from sandbox.spec import INPUT_DTYPES, MODEL_FILE, STAGES, CheckResult, CheckSpec, Example


def parse_shape(text: str) -> list[int]:
    """``2,3,32,32`` or ``2x3x32x32`` -> [2, 3, 32, 32]. Every part must be a positive integer: an empty or other part
    ("2,x", "2,,3") is an error, not skipped, since a shorter shape would be checked in its place. At most
    MAX_SHAPE_DIMS dimensions and MAX_SHAPE_ELEMENTS elements."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    try:
        shape = [int(p) for p in parts]
    except ValueError:
        raise typer.BadParameter(f"input shape must be comma-separated integers like 2,3,32,32, not {text!r}") from None
    if any(d <= 0 for d in shape):
        raise typer.BadParameter(f"input shape must be positive integers, not {text!r}")
    if len(shape) > MAX_SHAPE_DIMS or math.prod(shape) > MAX_SHAPE_ELEMENTS:
        raise typer.BadParameter(f"input shape must have at most {MAX_SHAPE_DIMS} dimensions and {MAX_SHAPE_ELEMENTS:,} elements, not {text!r}")
    return shape


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _check_budget(timeout: float | None, memory_mb: int | None) -> tuple[float, int]:
    """--timeout and --memory-mb, else the check_timeout_s and check_memory_mb settings (as ``nnrag patch`` and the
    server read them; a hard-coded 30 s here let NNRAG_CHECK_TIMEOUT_S=1 pass a 4 s model), within what the sandbox
    can enforce (NaN and inf included)."""
    if timeout is None or memory_mb is None:
        from nnrag.settings import get_settings

        settings = get_settings()
        timeout = settings.check_timeout_s if timeout is None else timeout
        memory_mb = settings.check_memory_mb if memory_mb is None else memory_mb
    if not math.isfinite(timeout):  # checked here, not by typer's min=: its range check called NaN "not >= 0.1"
        _fail(f"--timeout must be a finite number of seconds, not {timeout:g}")
    if not MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S:
        _fail(f"--timeout must be in [{MIN_TIMEOUT_S:g}, {MAX_TIMEOUT_S:g}] seconds, not {timeout:g}")
    if not 0 < memory_mb <= MAX_MEMORY_MB:
        _fail(f"--memory-mb must be at most {MAX_MEMORY_MB:,} MiB, not {memory_mb:,}")
    return timeout, memory_mb


def parse_input_dtypes(dtypes: list[str] | None, shapes: list[str] | None) -> list[str] | None:
    """--input-dtype values: one per --input-shape, each a name the sandbox knows."""
    if not dtypes:
        return None
    if len(dtypes) != len(shapes or []):
        _fail(f"give one --input-dtype per --input-shape ({len(dtypes)} dtypes for {len(shapes or [])} shapes)")
    unknown = [d for d in dtypes if d not in INPUT_DTYPES]
    if unknown:
        _fail(f"unknown --input-dtype {unknown[0]!r}; one of {', '.join(INPUT_DTYPES)}")
    return list(dtypes)


TIMEOUT_HELP = (f"CPU-time budget in seconds of all the check's processes, forked children too (CPU, so a busy machine does not turn a pass into a timeout); "
                f"at least {MIN_TIMEOUT_S:g}; its wall clock is capped at {WALL_FACTOR:g}x this. Default: the check_timeout_s setting (30).")
MEMORY_HELP = "Memory budget in MiB. Default: the check_memory_mb setting (4096)."


def parse_init_kwargs(text: str) -> dict:
    """``--init-kwargs``: a JSON object of constructor keywords. Why not ``dict(json.loads(text))``: it took a list
    of pairs (``[["num_classes", 10]]``) too, so a malformed value ran as some other set of keywords."""
    try:
        kwargs = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"--init-kwargs must be a JSON object: {exc}") from None
    if not isinstance(kwargs, dict):
        raise typer.BadParameter(f"--init-kwargs must be a JSON object like '{{\"num_classes\": 10}}', not {type(kwargs).__name__} {text!r}")
    return kwargs


def _stages_up_to(last: str) -> tuple[str, ...]:
    if last not in STAGES:
        raise typer.BadParameter(f"unknown stage {last!r}; one of {', '.join(STAGES)}")
    return STAGES[: STAGES.index(last) + 1]


def read_code(path: str) -> str:
    """The code of a file, or of stdin for "-", decoded as Python decodes source (BOM, coding cookie), bytes invalid in
    that encoding read as Latin-1 where Python would refuse the file (``decode_source``)."""
    if path == "-":
        return decode_source(sys.stdin.buffer.read())
    file = Path(path)
    if not file.is_file():
        raise typer.BadParameter(f"{path} is not a file")
    try:
        return decode_source(file.read_bytes())
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")


def _check_remote(server: str, code: str, spec: CheckSpec) -> CheckResult:
    """Check over gRPC (the server's sandbox pool) instead of a local pool."""
    with remote_client(server) as client:
        return client.check(code, spec)


def _server_sandbox(server: str) -> dict:
    """The server's sandbox section of its Stats answer: workers, isolation, not_contained."""
    with remote_client(server) as client:
        return client.stats()["sandbox"]


def _remote_checker(server: str):
    """A Client (its ``check_many`` streams through the Audit RPC) that fails with a clear message."""
    return remote_client(server, hint="results so far are saved; rerun the same command to resume")


def _refuse_what_python_cannot_compile(code: str) -> Nesting:
    """How ``code`` nests; exit 2 naming the line when it chains past what CPython's compiler takes (a 2,900-term
    ``x + x + ...`` failed in the sandbox with "hint: see the traceback"): no sandbox is started for it."""
    try:
        return refuse_past(code, MAX_COMPILE_DEPTH)
    except TooDeep as exc:
        _fail(str(exc))


def _explain_recursion(result: CheckResult, nesting: Nesting) -> None:
    """A RecursionError of deeply nesting code gets the hint that says where and what to do, for "see the traceback"."""
    if not result.ok and result.error_type == "RecursionError" and nesting.depth > MAX_DEPTH:
        result.diagnosis.hint = too_deep_message(nesting)


def _name_the_file(result: CheckResult, file: str) -> None:
    """The traceback names the checked file as the user calls it (``<stdin>`` for -), not the sandbox's ``model.py``."""
    if result.traceback:
        shown = "<stdin>" if file == "-" else file
        result.traceback = result.traceback.replace(f'File "{MODEL_FILE}"', f'File "{shown}"')


def _print_result(result: CheckResult) -> None:
    """Every string of a result comes from the checked code (messages, names, even the verdict can be
    forged): it is printed as plain Text, never parsed as rich markup ("[/foo]" would crash, "[red]" vanish), and with
    its control characters written out (``terminal_text``)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from nnrag.cli.output import terminal_text
    from rag_server.convert import strings_mapped

    result = strings_mapped(result, terminal_text)
    console = Console()
    colour = "green" if result.ok else "red"
    console.print(Text.assemble((str(result.status), f"bold {colour}"), f" at {result.failed_stage}" if result.failed_stage else "",
                                f"  entry={result.entry}" if result.entry else ""))
    table = Table(show_header=False, box=None)
    for stage, state in result.stages.items():
        table.add_row(Text(str(stage)), Text(str(state), style={"ok": "green", "failed": "red"}.get(state, "dim")))
    console.print(table)
    figures = _measured_figures(result)
    if figures:
        console.print("  ".join(figures), markup=False)
    for warning in result.warnings:
        console.print(Text.assemble(("warning", "bold yellow"), ": ", warning))
    if not result.ok:
        console.print(Text.assemble((str(result.error_type), "bold"), ": ", str(result.message)))
        if result.traceback:
            console.print(result.traceback, markup=False, highlight=False)
        console.print(Text.assemble(("problem", "bold"), ": ", str(result.diagnosis.problem)))
        console.print(Text.assemble(("hint", "bold"), ": ", str(result.diagnosis.hint)))
    if result.stdout:
        console.print("[dim]--- captured output ---[/]")
        console.print(result.stdout[:2000], markup=False, highlight=False)


def _measured_figures(result: CheckResult) -> list[str]:
    """The figures a check measured, each only when known. Why: a check that failed before forward printed
    "forward None ms", and one that failed at forward "flops/sample 0"."""
    known = [("params", result.params, "{:,}"), ("flops/sample", result.flops, "{:,}"),
             ("outputs", result.output_shapes or None, "{}"), ("forward", result.forward_ms, "{} ms"),
             ("peak RSS", result.peak_rss_mb, "{} MB"), ("wall", result.wall_ms, "{} ms")]
    return [f"{name} {form.format(value)}" for name, value, form in known if value is not None]


def example_from_options(input_shape: list[str] | None, input_dtype: list[str] | None, init_kwargs: str | None) -> Example | None:
    """The Example that --input-shape, --input-dtype and --init-kwargs describe (parsed and bounded as ``check`` does),
    or None when none is given: the sandbox's defaults (and LEMUR's size retries)."""
    dtypes = parse_input_dtypes(input_dtype, input_shape)
    if not (input_shape or init_kwargs):
        return None
    example = Example()
    if input_shape:
        example.inputs = [parse_shape(s) for s in input_shape]
        example.input_dtypes = dtypes
    if init_kwargs:
        example.init_kwargs = parse_init_kwargs(init_kwargs)
    return example


def _items_from_source(source: str, spec: CheckSpec | None = None) -> Iterator[SourceItem]:
    """The items of a directory of .py files, a JSONL file, or 'lemur'. ``spec``: the audit's, which a JSONL
    item's own "spec" object overrides field by field."""
    if source == "lemur":
        from corpus.lemur import lemur_wheel, model_names
        from nnrag.settings import get_settings

        wheel = lemur_wheel(get_settings().cache_path)
        import zipfile

        with zipfile.ZipFile(wheel) as zf:
            for name in model_names(wheel):
                yield SourceItem(name, decode_source(zf.read(f"ab/nn/nn/{name}.py")))
        return
    path = Path(source)
    if path.is_dir():
        yield from _items_from_directory(path)
        return
    if path.is_file() and path.suffix in (".jsonl", ".json"):
        yield from _items_from_jsonl(path, spec or CheckSpec())
        return
    raise typer.BadParameter(f"SOURCE must be a directory of .py files, a .jsonl file of {{name, code}}, or 'lemur', not {source!r}")


class _BadLine(ValueError):
    """Why one JSONL line is no item."""


def _items_from_jsonl(path: Path, spec: CheckSpec) -> Iterator[SourceItem]:
    """One item per non-blank line: {"name": str, "code": str, "spec": {CheckSpec fields}?}. A line that is none (not
    JSON, "code" not a string, a bad "spec") is warned about on stderr naming the line and recorded as a rejected item,
    and the audit goes on: one bad line of 10,000 must neither abort the batch nor vanish from the report."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            name = f"{path.name}:{number}"
            try:
                try:
                    record = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
                except ValueError as exc:  # UnicodeDecodeError is a ValueError
                    raise _BadLine(f"not a JSON object ({exc})") from None
                if not isinstance(record, dict):
                    raise _BadLine(f"expected a JSON object with 'name' and 'code', not {type(record).__name__}")
                if isinstance(record.get("name"), (str, int)) and not isinstance(record.get("name"), bool):
                    name = str(record["name"])
                missing = [k for k in ("name", "code") if k not in record]
                if missing:
                    raise _BadLine(f"expected a JSON object with 'name' and 'code'; {' and '.join(repr(k) for k in missing)} missing")
                if not isinstance(record["code"], str):
                    raise _BadLine(f"'code' must be a string (the model's source), not {type(record['code']).__name__}")
                item_spec = _item_spec(record["spec"], spec) if record.get("spec") is not None else None
                yield SourceItem(name, record["code"], item_spec)
            except _BadLine as exc:
                problem = f"line {number} of {path.name}: {exc}"
                typer.echo(f"warning: {path}:{number}: {exc}; recorded as a rejected item", err=True)
                yield SourceItem(name, raw.decode("utf-8", "replace"), None, problem)


def _item_spec(data: object, base: CheckSpec) -> CheckSpec:
    """``base`` with the fields a JSONL item's "spec" object sets, checked as the options are (a bad value is the
    line's problem, not a model failure in the sandbox)."""
    if not isinstance(data, dict):
        raise _BadLine(f"'spec' must be a JSON object of check settings, not {type(data).__name__}")
    unknown = sorted(set(data) - set(CheckSpec.__dataclass_fields__))
    if unknown:
        raise _BadLine(f"'spec' has unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(CheckSpec.__dataclass_fields__)}")
    if data.get("example") is not None:
        _check_item_example(data["example"])
    stages = data.get("stages")
    if stages is not None and (not isinstance(stages, list) or not stages or any(s not in STAGES for s in stages)):
        raise _BadLine(f"'spec.stages' must be a list of stage names from {', '.join(STAGES)}, not {stages!r}")
    for key, most in (("timeout_s", MAX_TIMEOUT_S), ("memory_mb", MAX_MEMORY_MB)):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= most):
            raise _BadLine(f"'spec.{key}' must be a number in (0, {most:g}], not {value!r}")
    if data.get("entry") is not None and not isinstance(data["entry"], str):
        raise _BadLine(f"'spec.entry' must be a class name, not {data['entry']!r}")
    try:
        return CheckSpec.from_dict({**base.to_dict(), **data})
    except (TypeError, ValueError, AttributeError) as exc:
        raise _BadLine(f"'spec' is not a valid check spec ({exc})") from None


def _check_item_example(example: object) -> None:
    """An item's "spec.example": known fields, shapes of positive integers within the server's limits, known dtypes."""
    if not isinstance(example, dict):
        raise _BadLine(f"'spec.example' must be a JSON object, not {type(example).__name__}")
    unknown = sorted(set(example) - set(Example.__dataclass_fields__))
    if unknown:
        raise _BadLine(f"'spec.example' has unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(Example.__dataclass_fields__)}")
    inputs, dtypes = example.get("inputs"), example.get("input_dtypes")
    if inputs is not None:
        if not isinstance(inputs, list) or not all(isinstance(shape, list) for shape in inputs):
            raise _BadLine(f"'spec.example.inputs' must be a list of shapes like [[2, 3, 32, 32]], not {inputs!r}")
        for shape in inputs:
            try:
                parse_shape(",".join(str(d) if isinstance(d, int) and not isinstance(d, bool) else "?" for d in shape))
            except typer.BadParameter as exc:
                raise _BadLine(f"'spec.example.inputs': {exc.message}") from None
    if dtypes is not None:
        if not isinstance(dtypes, list) or len(dtypes) != len(inputs or []) or any(d not in INPUT_DTYPES for d in dtypes):
            raise _BadLine(f"'spec.example.input_dtypes' must list one of {', '.join(INPUT_DTYPES)} per input, not {dtypes!r}")


def _items_from_directory(root: Path) -> Iterator[SourceItem]:
    """Items (relative path, code) of the .py files under ``root``. An entry that cannot be read (a broken
    symlink, a directory or FIFO named x.py, no permission) is reported on stderr and skipped: one bad
    entry must not abort an audit of thousands of files."""
    from corpus.sources import python_files

    files, skipped = python_files(root)
    for name, reason in sorted(skipped.items()):
        typer.echo(f"warning: skipped {name}: {reason}", err=True)
    for file in sorted(files):
        name = file.relative_to(root).as_posix()
        try:
            data = file.read_bytes()
        except OSError as exc:  # unreadable, or removed since the walk
            typer.echo(f"warning: skipped {name}: {exc.strerror or exc}", err=True)
            continue
        yield SourceItem(name, decode_source(data))


def _usable_out(out: Path, report_only: bool) -> None:
    """Exit 2 with one line when --out cannot hold an audit: a file in its place, a folder that cannot be made or
    written, or (``--report-only``) no results to report on. Why: these ended in a FileExistsError or
    FileNotFoundError traceback, exit 1, which reads as a failed audit."""
    from sandbox.audit import RESULTS_FILE

    if out.exists() and not out.is_dir():
        _fail(f"--out {out} exists and is not a directory: give a folder for the results")
    if report_only:
        if not (out / RESULTS_FILE).is_file():
            _fail(f"--report-only: {out} holds no audit results ({RESULTS_FILE}); run the audit without --report-only first")
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot create --out {out}: {exc.strerror or exc}")
    if not os.access(out, os.W_OK | os.X_OK):
        _fail(f"cannot write to --out {out}: permission denied")


def _run_audit(console, source: str, out: Path, spec: CheckSpec, workers: int | None, limit: int | None, preload: str,
               server: str | None) -> None:
    """Check the source's items into ``out`` with a progress bar, then say what was checked and why."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from sandbox.audit import run_audit
    from sandbox.pool import CheckerPool

    items = list(_items_from_source(source, spec))
    if not items:  # as `nnrag index` refuses a source with no Python file; a report of 0 items passed, exit 0
        what = "no line" if Path(source).is_file() else "no readable .py file"
        _fail(f"{source} holds nothing to audit ({what}): give a directory of .py files or a JSONL of {{name, code}}")
    console.print(f"{len(items):,} items from {source}; results in {out}" + (f"; checks on {server}" if server else ""), markup=False)
    modules = tuple(m.strip() for m in preload.split(",") if m.strip())
    checker = _remote_checker(server) if server else CheckerPool(size=workers, preload=modules)
    with checker as pool, Progress(
        TextColumn("[bold]audit"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console,
    ) as progress:
        task = progress.add_task("audit", total=None, counts="")

        def on_result(name: str, result: CheckResult, state) -> None:
            if progress.tasks[task].total is None:
                todo = state.unique - state.already_done
                progress.update(task, total=min(todo, limit) if limit else todo)
            counts = " ".join(f"{k}={v}" for k, v in sorted(state.statuses.items()))
            progress.update(task, advance=1, counts=escape(counts))  # statuses come from results: no markup

        state = run_audit(items, out, pool, spec, on_result=on_result, limit=limit)
    notes = [f"checked {state.checked:,} new unique codes ({state.already_done:,} already done, {state.unique:,} unique of {state.total_names:,} names)"]
    if state.settings_changed:
        notes.append(f"{state.settings_changed:,} re-checked because the check settings changed")
    if state.settings_unknown:
        notes.append(f"{state.settings_unknown:,} re-checked: their results were made before check settings were recorded")
    if state.rejected_items:
        notes.append(f"{state.rejected_items:,} source line{'' if state.rejected_items == 1 else 's'} rejected (see the warnings)")
    notes += [f"{count:,} skipped ({reason})" for reason, count in sorted(state.skipped.items())]
    console.print("; ".join(notes), markup=False)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app."""

    @app.command("check")
    def check_command(
        file: str = typer.Argument(..., help="Python file with the model code, or - for stdin."),
        input_shape: Optional[list[str]] = typer.Option(None, "--input-shape", help="Input shape like 2,3,32,32; repeat for several inputs."),
        input_dtype: Optional[list[str]] = typer.Option(None, "--input-dtype", help=f"dtype of each input, one per --input-shape: {', '.join(INPUT_DTYPES)} (default float32; int64 inputs are token ids in [0, 10))."),
        entry: Optional[str] = typer.Option(None, "--entry", help="Class, factory or instance to build (default: Net, else the last module-level model instance or zero-argument factory, else the last top-level nn.Module that builds)."),
        stage: Optional[str] = typer.Option(None, "--stage", help=f"Last stage to run: {', '.join(STAGES)} (default: backward, "
                                            "and train_step for a LEMUR Net, which runs its train_setup and learn)."),
        timeout: Optional[float] = typer.Option(None, "--timeout", help=TIMEOUT_HELP),
        memory_mb: Optional[int] = typer.Option(None, "--memory-mb", min=64, help=MEMORY_HELP),
        init_kwargs: Optional[str] = typer.Option(None, "--init-kwargs", help='Constructor kwargs as JSON, e.g. \'{"num_classes": 10}\'.'),
        as_json: bool = typer.Option(False, "--json", help="Print the CheckResult as JSON."),
        server: Optional[str] = typer.Option(None, "--server", help="host:port of an nnrag server: check there instead of locally."),
    ) -> None:
        """Check one model file in the sandbox: stages, params, FLOPs, and a diagnosis if it breaks."""
        timeout, memory_mb = _check_budget(timeout, memory_mb)
        example = example_from_options(input_shape, input_dtype, init_kwargs)  # None: defaults (and LEMUR's size retries)
        code = read_code(file)
        nesting = _refuse_what_python_cannot_compile(code)
        spec = CheckSpec(entry=entry, example=example, timeout_s=timeout, memory_mb=memory_mb)
        if stage is not None:  # the stages asked for, exactly (no train_step added for LEMUR)
            spec.stages, spec.train_lemur = _stages_up_to(stage), False
        if server:
            result = _check_remote(server, code, spec)
        else:
            from sandbox.pool import CheckerPool

            with CheckerPool(size=1, preload=("torch",)) as pool:  # one check: the child imports what else it needs
                result = pool.check(code, spec)
        _explain_recursion(result, nesting)
        _name_the_file(result, file)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2))
        else:
            _print_result(result)
        raise typer.Exit(0 if result.ok else 1)

    @app.command("audit")
    def audit_command(
        source: str = typer.Argument(..., help="Directory of .py files, JSONL of {name, code, spec?}, or 'lemur'."),
        out: Path = typer.Option(Path("audit"), "--out", help="Output directory (results.jsonl, report.md/html); reruns resume."),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Sandbox workers (default: CPU cores; local only)."),
        stage: str = typer.Option("train_step", "--stage", help="Last stage to run."),
        timeout: Optional[float] = typer.Option(None, "--timeout", help=TIMEOUT_HELP),
        memory_mb: Optional[int] = typer.Option(None, "--memory-mb", min=64, help=MEMORY_HELP),
        entry: Optional[str] = typer.Option(None, "--entry", help="Class, factory or instance to build in every model (default as in check)."),
        input_shape: Optional[list[str]] = typer.Option(None, "--input-shape", help="Input shape like 2,3,32,32; repeat for several inputs."),
        input_dtype: Optional[list[str]] = typer.Option(None, "--input-dtype", help=f"dtype of each input, one per --input-shape: {', '.join(INPUT_DTYPES)}."),
        init_kwargs: Optional[str] = typer.Option(None, "--init-kwargs", help='Constructor kwargs as JSON, e.g. \'{"num_classes": 10}\'.'),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Check at most this many new unique codes in this run."),
        report_only: bool = typer.Option(False, "--report-only", help="Only rebuild the report from existing results."),
        preload: str = typer.Option("torch,torchvision,timm", "--preload", help="Modules each worker imports once (comma-separated; local only)."),
        server: Optional[str] = typer.Option(None, "--server", help="host:port of an nnrag server: check there (Audit stream); results and report stay local."),
    ) -> None:
        """Check every model of a source once per code and settings, resumably; write a report.

        A JSONL item may carry its own "spec" (CheckSpec fields, e.g. {"example": {"inputs": [[2, 16]], "input_dtypes":
        ["int64"]}}), which overrides the options for that item. Files that define no model class are reported as
        skipped, outside the pass rates. A result is reused only when it was made with the same settings."""
        from rich.console import Console

        from sandbox.audit import AuditLocked, audit_lock
        from sandbox.report import write_report

        console = Console(stderr=True, soft_wrap=True)
        timeout, memory_mb = _check_budget(timeout, memory_mb)
        example = example_from_options(input_shape, input_dtype, init_kwargs)
        spec = CheckSpec(entry=entry, example=example, stages=_stages_up_to(stage), timeout_s=timeout, memory_mb=memory_mb)
        _usable_out(out, report_only)
        if not report_only:
            try:
                with audit_lock(out):  # refuse at once, before reading the source and starting workers
                    pass
                _run_audit(console, source, out, spec, workers, limit, preload, server)
            except AuditLocked as exc:
                _fail(str(exc))
        summary = write_report(out, title=f"nnrag audit of {source}")
        console.print(f"report: {out / 'report.md'} and {out / 'report.html'}", markup=False)
        for name, rate in summary["stage_rates"].items():
            if rate["attempted"]:
                console.print(f"  {name:12s} {100 * (rate['rate_of_all'] or 0):5.1f}% of checked pass")
        for reason, names in summary["skipped"].items():
            console.print(f"  skipped, not in the rates ({reason}): {len(names):,}", markup=False)

    @app.command("doctor")
    def doctor_command(
        sample: bool = typer.Option(True, "--sample/--no-sample", help="Also time a warm pool on a sample check."),
        as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
        isolation: str = typer.Option("auto", "--isolation", help="Mode to probe: auto (what the server and CLI use), strict, uid, none."),
        server: Optional[str] = typer.Option(None, "--server", help="host:port of an nnrag server: report the isolation of its sandbox workers instead."),
    ) -> None:
        """Report the sandbox isolation in force on this machine, what it does not contain, and a sample check timing."""
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        from sandbox.isolation import NEVER_CONTAINED, IsolationInfo, detect_isolation

        if isolation not in ("auto", "strict", "uid", "none"):
            raise typer.BadParameter(f"--isolation must be auto, strict, uid or none, not {isolation!r}")
        if server:
            sandbox = _server_sandbox(server)
            if sandbox["isolation"] is None:
                typer.echo(f"error: the sandbox workers of {server} are still starting; retry in a few seconds", err=True)
                raise typer.Exit(2)
            info, sample = IsolationInfo.from_dict(sandbox["isolation"]), False
        else:
            info = detect_isolation(mode=isolation)
        findings: dict = {"isolation": info.to_dict(), "not_contained": info.not_contained(), "never_contained": list(NEVER_CONTAINED)}
        if server:
            findings.update(server=server, workers=sandbox["workers"])
        else:
            findings.update(cpu_count=os.cpu_count(), python=sys.version.split()[0], euid=os.geteuid())
        if sample:
            from sandbox.pool import CheckerPool

            code = ("import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                    "        self.c = nn.Conv2d(3, 8, 3)\n        self.f = nn.Linear(8, 10)\n"
                    "    def forward(self, x):\n        return self.f(self.c(x).mean((2, 3)))\n")
            start = time.monotonic()
            with CheckerPool(size=1, preload=("torch",), isolation=isolation) as pool:
                pool.wait_ready()
                findings["worker_start_s"] = round(time.monotonic() - start, 2)
                results = [pool.check(code) for _ in range(5)]
            findings["sample_check"] = {"status": results[-1].status, "wall_ms": sorted(r.wall_ms for r in results)[2]}
        if as_json:
            typer.echo(json.dumps(findings, indent=2))
            return
        console = Console()
        table = Table(title=Text(f"nnrag sandbox of {server}" if server else "nnrag sandbox"))
        table.add_column("what")
        table.add_column("state")
        rows = [("network", info.network), ("filesystem", info.filesystem), ("processes", info.processes),
                ("per-check /proc and /tmp", "yes" if info.check_mounts else "no"),
                ("cores" if not server else "workers", str(os.cpu_count() if not server else findings["workers"]))]
        if sample:
            rows += [("worker start", f"{findings['worker_start_s']} s"),
                     ("sample check", f"{findings['sample_check']['status']}, median {findings['sample_check']['wall_ms']:.0f} ms")]
        for what, state in rows:  # what a server or probe reports is text, never markup
            table.add_row(what, Text(str(state)))
        print_table(table, console)
        for line in info.details:
            console.print(f"  - {line}", markup=False)
        console.print("[bold]always contained[/]: wall timeout (kills the process group), RLIMIT_AS/CPU/FSIZE/NOFILE, a private work dir "
                      "removed afterwards, a scrubbed environment, closed descriptors, escaped descendants killed")
        if findings["not_contained"]:
            console.print("[bold red]NOT contained under this isolation[/] (needs namespaces, or root for a throwaway uid):")
            for line in findings["not_contained"]:
                console.print(f"  - {line}", markup=False)
        else:
            console.print("[bold green]every isolation layer is active[/]")
        console.print("[bold]not contained by any isolation[/]:")
        for line in NEVER_CONTAINED:
            console.print(f"  - {line}", markup=False)
