"""``nnrag check``, ``nnrag audit`` and ``nnrag doctor``: the sandboxed executability checker.

``check`` runs in-process on a local pool, or over gRPC with ``--server ADDR``
(``_check_remote``). ``audit`` reads a source (directory of .py files, JSONL of
{"name", "code"}, or ``lemur``), checks every unique code once, resumably, and writes a
markdown + HTML report; with ``--server`` the checks stream through the server's Audit
RPC (``_remote_checker``) while the source, the resumable JSONL and the report stay local.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import typer

from nnrag.cli.remote import remote_client
from sandbox.spec import STAGES, CheckResult, CheckSpec, Example


def parse_shape(text: str) -> list[int]:
    """``2,3,32,32`` or ``2x3x32x32`` -> [2, 3, 32, 32]. Every part must be a positive integer: an empty or other part
    ("2,x", "2,,3") is an error, not skipped, since a shorter shape would be checked in its place."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    try:
        shape = [int(p) for p in parts]
    except ValueError:
        raise typer.BadParameter(f"input shape must be comma-separated integers like 2,3,32,32, not {text!r}") from None
    if any(d <= 0 for d in shape):
        raise typer.BadParameter(f"input shape must be positive integers, not {text!r}")
    return shape


def _stages_up_to(last: str) -> tuple[str, ...]:
    if last not in STAGES:
        raise typer.BadParameter(f"unknown stage {last!r}; one of {', '.join(STAGES)}")
    return STAGES[: STAGES.index(last) + 1]


def _read_code(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    file = Path(path)
    if not file.is_file():
        raise typer.BadParameter(f"{path} is not a file")
    return file.read_text(encoding="utf-8", errors="replace")


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


def _print_result(result: CheckResult) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    colour = "green" if result.ok else "red"
    console.print(f"[bold {colour}]{result.status}[/]" + (f" at {result.failed_stage}" if result.failed_stage else "")
                  + (f"  entry={result.entry}" if result.entry else ""))
    table = Table(show_header=False, box=None)
    for stage, state in result.stages.items():
        table.add_row(stage, {"ok": "[green]ok[/]", "failed": "[red]failed[/]"}.get(state, f"[dim]{state}[/]"))
    console.print(table)
    if result.params is not None:
        console.print(f"params {result.params:,}  flops/sample {result.flops or 0:,}  outputs {result.output_shapes}  "
                      f"forward {result.forward_ms} ms  peak RSS {result.peak_rss_mb} MB  wall {result.wall_ms} ms")
    if not result.ok:
        console.print(f"[bold]{result.error_type}[/]: {result.message}")
        if result.traceback:
            console.print(result.traceback, markup=False, highlight=False)
        console.print(f"[bold]problem[/]: {result.diagnosis.problem}")
        console.print(f"[bold]hint[/]: {result.diagnosis.hint}")
    if result.stdout:
        console.print("[dim]--- captured output ---[/]")
        console.print(result.stdout[:2000], markup=False, highlight=False)


def _items_from_source(source: str) -> Iterator[tuple[str, str]]:
    """(name, code) pairs from a directory of .py files, a JSONL file, or 'lemur'."""
    if source == "lemur":
        from corpus.lemur import lemur_wheel, model_names
        from nnrag.settings import get_settings

        wheel = lemur_wheel(get_settings().cache_path)
        import zipfile

        with zipfile.ZipFile(wheel) as zf:
            for name in model_names(wheel):
                yield name, zf.read(f"ab/nn/nn/{name}.py").decode("utf-8", "replace")
        return
    path = Path(source)
    if path.is_dir():
        for file in sorted(path.rglob("*.py")):
            yield str(file.relative_to(path)), file.read_text(encoding="utf-8", errors="replace")
        return
    if path.is_file() and path.suffix in (".jsonl", ".json"):
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    yield str(record["name"]), str(record["code"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise typer.BadParameter(f"{source}:{number}: expected a JSON object with 'name' and 'code' ({exc})") from exc
        return
    raise typer.BadParameter(f"SOURCE must be a directory of .py files, a .jsonl file of {{name, code}}, or 'lemur', not {source!r}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app."""

    @app.command("check")
    def check_command(
        file: str = typer.Argument(..., help="Python file with the model code, or - for stdin."),
        input_shape: Optional[list[str]] = typer.Option(None, "--input-shape", help="Input shape like 2,3,32,32; repeat for several inputs."),
        entry: Optional[str] = typer.Option(None, "--entry", help="Class to build (default: Net, else the last nn.Module)."),
        stage: str = typer.Option("backward", "--stage", help=f"Last stage to run: {', '.join(STAGES)}."),
        timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Wall-clock budget in seconds."),
        memory_mb: int = typer.Option(4096, "--memory-mb", min=64, help="Memory budget in MiB."),
        init_kwargs: Optional[str] = typer.Option(None, "--init-kwargs", help='Constructor kwargs as JSON, e.g. \'{"num_classes": 10}\'.'),
        as_json: bool = typer.Option(False, "--json", help="Print the CheckResult as JSON."),
        server: Optional[str] = typer.Option(None, "--server", help="host:port of an nnrag server: check there instead of locally."),
    ) -> None:
        """Check one model file in the sandbox: stages, params, FLOPs, and a diagnosis if it breaks."""
        code = _read_code(file)
        example = Example() if (input_shape or init_kwargs) else None  # None: defaults (and LEMUR's size retries)
        if input_shape:
            example.inputs = [parse_shape(s) for s in input_shape]
        if init_kwargs:
            try:
                example.init_kwargs = dict(json.loads(init_kwargs))
            except (ValueError, TypeError) as exc:
                raise typer.BadParameter(f"--init-kwargs must be a JSON object: {exc}") from exc
        spec = CheckSpec(entry=entry, example=example, stages=_stages_up_to(stage), timeout_s=timeout, memory_mb=memory_mb)
        if server:
            result = _check_remote(server, code, spec)
        else:
            from sandbox.pool import CheckerPool

            with CheckerPool(size=1, preload=("torch",)) as pool:  # one check: the child imports what else it needs
                result = pool.check(code, spec)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2))
        else:
            _print_result(result)
        raise typer.Exit(0 if result.ok else 1)

    @app.command("audit")
    def audit_command(
        source: str = typer.Argument(..., help="Directory of .py files, JSONL of {name, code}, or 'lemur'."),
        out: Path = typer.Option(Path("audit"), "--out", help="Output directory (results.jsonl, report.md/html); reruns resume."),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Sandbox workers (default: CPU cores; local only)."),
        stage: str = typer.Option("train_step", "--stage", help="Last stage to run."),
        timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Per-check budget in seconds."),
        memory_mb: int = typer.Option(4096, "--memory-mb", min=64),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Check at most this many new unique codes in this run."),
        report_only: bool = typer.Option(False, "--report-only", help="Only rebuild the report from existing results."),
        preload: str = typer.Option("torch,torchvision,timm", "--preload", help="Modules each worker imports once (comma-separated; local only)."),
        server: Optional[str] = typer.Option(None, "--server", help="host:port of an nnrag server: check there (Audit stream); results and report stay local."),
    ) -> None:
        """Check every model of a source once (dedup by code hash), resumably; write a report."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from sandbox.audit import run_audit
        from sandbox.report import write_report

        console = Console(stderr=True)
        spec = CheckSpec(stages=_stages_up_to(stage), timeout_s=timeout, memory_mb=memory_mb)
        if not report_only:
            from sandbox.pool import CheckerPool

            items = list(_items_from_source(source))
            console.print(f"{len(items):,} items from {source}; results in {out}" + (f"; checks on {server}" if server else ""))
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
                    progress.update(task, advance=1, counts=counts)

                state = run_audit(items, out, pool, spec, on_result=on_result, limit=limit)
            console.print(f"checked {state.checked:,} new unique codes ({state.already_done:,} already done, {state.unique:,} unique of {state.total_names:,} names)")
        summary = write_report(out, title=f"nnrag audit of {source}")
        console.print(f"report: {out / 'report.md'} and {out / 'report.html'}")
        for name, rate in summary["stage_rates"].items():
            if rate["attempted"]:
                console.print(f"  {name:12s} {100 * (rate['rate_of_all'] or 0):5.1f}% of checked pass")

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

        from sandbox.isolation import IsolationInfo, detect_isolation

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
        findings: dict = {"isolation": info.to_dict(), "not_contained": info.not_contained()}
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
        table = Table(title=f"nnrag sandbox of {server}" if server else "nnrag sandbox")
        table.add_column("what")
        table.add_column("state")
        table.add_row("network", info.network)
        table.add_row("filesystem", info.filesystem)
        table.add_row("processes", info.processes)
        table.add_row("cores" if not server else "workers", str(os.cpu_count() if not server else findings["workers"]))
        if sample:
            table.add_row("worker start", f"{findings['worker_start_s']} s")
            table.add_row("sample check", f"{findings['sample_check']['status']}, median {findings['sample_check']['wall_ms']:.0f} ms")
        console.print(table)
        for line in info.details:
            console.print(f"  - {line}")
        console.print("[bold]always contained[/]: wall timeout (kills the process group), RLIMIT_AS/CPU/FSIZE/NOFILE, a private work dir "
                      "removed afterwards, a scrubbed environment, closed descriptors, escaped descendants killed")
        if findings["not_contained"]:
            console.print("[bold red]NOT contained under this isolation[/] (needs namespaces, or root for a throwaway uid):")
            for line in findings["not_contained"]:
                console.print(f"  - {line}", markup=False)
        else:
            console.print("[bold green]every isolation layer is active[/]")
