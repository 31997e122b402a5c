"""``make demo``: index (cached), serve on loopback, patch and check the LLM-written models in examples/.

    python -m rag_server.demo [--examples DIR] [--store DIR] [--workers N]

Everything goes through the public surface a user would touch: ``build_index`` for
the default corpus (skipped when the store is up to date), ``nnrag serve`` as a
subprocess, and the SDK's ``Client`` for patch/check/predict. The table shows, per
example, the check before and after patching, what was inserted, parameters,
FLOPs and (when a predictor is trained) the predicted accuracy.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from corpus.licenses import COPYLEFT, PERMISSIVE, license_kind  # noqa: E402
from rag_server.codeops import describe_defaults  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_index(store_dir: Path, console: Console) -> None:
    """Build the default index once; later runs find it up to date in about a second."""
    from indexer.build import build_index, default_sources

    started = time.perf_counter()
    sources, warnings = default_sources()
    for warning in warnings:
        console.print(f"[yellow]{warning}[/]")
    console.print(f"[bold]index[/] {', '.join(sources)} -> {store_dir}")
    report = build_index(sources, store_dir, progress=True)
    state = "up to date" if report.up_to_date else f"built version {report.version}"
    console.print(f"index {state} in {time.perf_counter() - started:.1f} s")


def ensure_predictor(predictor_dir: Path, console: Console) -> None:
    """Train the small default predictor once (CIFAR-10, fast settings); later runs load it."""
    started = time.perf_counter()
    try:
        from predictor.api import load_or_train_default

        load_or_train_default(predictor_dir)
    except Exception as exc:  # the demo still patches and checks without predictions
        console.print(f"[yellow]no predictor ({type(exc).__name__}: {exc}); the table shows no predicted accuracy[/]")
        return
    console.print(f"predictor ready in {time.perf_counter() - started:.1f} s ({predictor_dir})")


def start_server(address: str, store_dir: Path, workers: int) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from nnrag.cli import main; main()", "serve", "--address", address, "--store", str(store_dir), "--workers", str(workers)]
    env = {**os.environ, "NNRAG_LOG_LEVEL": os.environ.get("NNRAG_LOG_LEVEL", "WARNING")}
    return subprocess.Popen(cmd, cwd=REPO, env=env)


def _status(result: object | None) -> str:
    if result is None:
        return "-"
    if result.ok:  # type: ignore[attr-defined]
        return "[green]ok[/]"
    return f"[red]{result.status} @ {result.failed_stage}[/]"  # type: ignore[attr-defined]


def _count(n: int | None, unit: str = "") -> str:
    if n is None:
        return "-"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n}{unit}"


def run_examples(address: str, files: list[Path], console: Console) -> tuple[Table, list[str]]:
    from rag_server.client import ApiError, Client, FailedPrecondition

    table = Table(title=f"nnrag demo: {len(files)} LLM-written models, patched and checked over gRPC at {address}")
    # FLOPs are per sample, forward pass, 2 per multiply-add; s is the patch call's wall time.
    for col in ("example", "before", "patch", "after", "params", "FLOPs", "pred. acc.", "s"):
        table.add_column(col, overflow="fold")
    notes: list[str] = []
    with Client(address, timeout=120) as client:
        predictor_ok = client.health("nnrag.v1.PredictorService") == "SERVING"
        for path in files:
            code = path.read_text(encoding="utf-8")
            try:
                outcome = client.patch(code, check_before=True, timeout=600)
            except ApiError as exc:
                table.add_row(path.name, "-", f"[red]{exc}[/]", "-", "-", "-", "-", "-")
                continue
            final = outcome.after if outcome.after is not None else outcome.before
            fixes = [_inserted(i) for i in outcome.inserted]
            copyleft = sorted({f"{i.name} ({i.license})" for i in outcome.inserted if license_kind(i.license) == COPYLEFT})
            if copyleft:
                notes.append(f"{path.name}: {', '.join(copyleft)} came from a copyleft source; {_without_copyleft(client, code)}")
            if outcome.added_imports:
                fixes.append(f"+{len(outcome.added_imports)} import{'s' if len(outcome.added_imports) > 1 else ''}")
            fixes += list(outcome.fixes)
            if outcome.unresolved:
                fixes.append(f"[yellow]unresolved: {', '.join(outcome.unresolved)}[/]")
            if final is not None and not final.ok and final.diagnosis.problem:
                notes.append(f"{path.name}: {final.diagnosis.problem}" + (f" (hint: {final.diagnosis.hint})" if final.diagnosis.hint else ""))
            accuracy = "-"
            if predictor_ok and final is not None and final.ok:
                try:
                    p = client.predict(outcome.patched_code, {}, "cifar-10")
                    accuracy = f"{p.accuracy:.3f} [{p.lower:.2f}, {p.upper:.2f}]"
                except FailedPrecondition:
                    accuracy = "-"
            table.add_row(
                path.name, _status(outcome.before), "\n".join(fixes) or "(nothing to insert)", _status(outcome.after),
                _count(final.params if final else None), _count(final.flops if final else None), accuracy, f"{outcome.took_ms / 1000:.1f}",
            )
    return table, notes


def _without_copyleft(client: object, code: str) -> str:
    """What the same patch gives under ``license_policy="no-copyleft"``: the user's other choice, shown."""
    from rag_server.client import ApiError

    how = "with license_policy='no-copyleft' (nnrag patch --license-policy no-copyleft)"
    try:
        outcome = client.patch(code, license_policy="no-copyleft", timeout=600)  # type: ignore[attr-defined]
    except ApiError as exc:  # e.g. a store whose every source is copyleft: the server says so
        return f"{how}: {exc}"
    blocks = "; ".join(_inserted(i) for i in outcome.inserted) or "nothing inserted"
    return f"{how}: {blocks} -> {_status(outcome.after)}"


def _license_flag(item: object) -> str:
    """Words only for a block whose source's license is not a known permissive one: the inserted code comes under its
    terms. Nothing when the answer carries no provenance (nothing is known either way)."""
    if item.provenance is None:  # type: ignore[attr-defined]
        return ""
    declared = item.license  # type: ignore[attr-defined]
    kind = license_kind(declared)
    return "" if kind == PERMISSIVE else f"{kind} license: {declared}" if declared else "no license declared"


def _inserted(item: object) -> str:
    """``SqueezeExcite <- timm SEModule``: the free name and the block that now defines it, any keyword edited at the
    model's calls (``Mlp <- timm (dropout= -> drop=)``), any default set in the block and any doubt about it."""
    source = item.source.split(":", 1)[-1].split("==")[0].split(".")[0] if item.source else "?"  # type: ignore[attr-defined]
    block = item.qualified_name.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
    text = f"{item.name} <- {source} {block}" if block != item.name else f"{item.name} <- {source}"  # type: ignore[attr-defined]
    defaults = describe_defaults(item.defaults_set)  # type: ignore[attr-defined]
    notes = [item.keyword_edits.describe(), f"set in the block: {defaults}" if defaults else "", _license_flag(item)]  # type: ignore[attr-defined]
    notes += [f"doubt: {d}" for d in item.doubts]  # type: ignore[attr-defined]
    notes = [n for n in notes if n]
    return f"{text} ({', '.join(notes)})" if notes else text


def main() -> int:
    from nnrag.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path, default=REPO / "examples")
    parser.add_argument("--store", type=Path, default=None, help="store directory (default: the settings' store)")
    parser.add_argument("--workers", type=int, default=2, help="sandbox workers in the server")
    parser.add_argument("--skip-index", action="store_true", help="use the store as it is")
    parser.add_argument("--skip-predictor", action="store_true", help="do not train the default predictor when missing")
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 150)  # pipes and CI logs get the whole table
    store_dir = args.store or get_settings().store_path
    files = sorted(p for p in args.examples.iterdir() if p.suffix in (".py", ".md") and p.is_file())
    if not files:
        console.print(f"[red]no examples in {args.examples}[/]")
        return 2
    if not args.skip_index:
        ensure_index(store_dir, console)
    if not args.skip_predictor:
        ensure_predictor(get_settings().predictor_path, console)

    from rag_server.client import Client

    address = f"127.0.0.1:{free_port()}"
    console.print(f"[bold]serve[/] on {address} ({args.workers} sandbox workers)")
    proc = start_server(address, store_dir, args.workers)
    try:
        with Client(address) as client:
            client.wait_ready(timeout=300)
            console.print(f"server health: {client.health()}; versions: {client.search('conv', k=1).versions}")
        table, notes = run_examples(address, files, console)
        console.print(table)
        for note in notes:
            console.print(f"  [yellow]{note}[/]")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        console.print(f"server stopped (exit {code})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
