"""``nnrag index | search | block | stats``: build the block store and read it.

Each read command runs in-process against the store directory by default. With
``--server ADDR`` it goes over gRPC instead: the ``_remote_*`` functions at the end
of this file are that path (wired by the gRPC side; they return the same JSON shapes).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape

from nnrag.cli.output import print_table
from nnrag.cli.remote import remote_client
from nnrag.cli.stores import buildable_store_path, open_filtered_store, open_store, stored_source_specs
from rag_server.block_filter import LicensePolicy
from rag_server.client import SEARCH_MODES
from rag_server.query import MAX_K, missing_block_message, query_problem, search_blocks

STORE_HELP = "Block store directory (default: $NNRAG_HOME/store or ~/.cache/nnrag/store)."
SERVER_HELP = "Ask a running nnrag server at host:port instead of reading the store in-process."

# The modes the gRPC client maps to the Search RPC: the same names mean the same search in-process (search_blocks is
# what the server runs), so `--mode` never depends on whether --server is given.
SearchMode = StrEnum("SearchMode", list(SEARCH_MODES))
MODE_HELP = ("auto: a symbol lookup when the query is one identifier, else hybrid; hybrid or meaning: vectors and BM25 "
             "fused by rank; symbol: the name lookup alone; vector: embeddings alone; lexical: BM25 alone.")


# --------------------------------------------------------------------------------------
# JSON shapes (shared with the server side: keep them stable)
# --------------------------------------------------------------------------------------


def validation_json(validation: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """stage -> {"status": "ok"|"failed", "ok": bool, "error": str}, in stage order."""
    from indexer.store import VALIDATION_STAGES

    order = [s for s in VALIDATION_STAGES if s in validation] + [s for s in validation if s not in VALIDATION_STAGES]
    return {s: {"status": "ok" if validation[s].get("ok") else "failed", "ok": bool(validation[s].get("ok")), "error": validation[s].get("error", "") or ""} for s in order}


def block_json(block: Any, alternatives: list[str]) -> dict[str, Any]:
    """One block as `nnrag block --json` prints it."""
    example = block.example.to_dict() if block.example else None
    return {
        "name": block.name,
        "qualified_name": block.qualified_name,
        "source": block.code,
        "provenance": [p.to_dict() for p in block.provenances],
        "validation": validation_json(block.validation),
        "example": example,
        "hash": block.content_hash,
        "struct_hash": block.struct_hash,
        "alternatives": alternatives,
        "signature": block.signature,
        "docstring": block.docstring,
        "external_imports": block.external_imports,
        "missing_deps": block.missing_deps,
        "unresolved": block.unresolved,
        "near_dup_group": block.near_dup_group,
        "params": block.params,
        "flops": block.flops,
    }


def lookup_blocks(store: Any, names: list[str]) -> list[dict[str, Any]]:
    """`nnrag block` in-process: best-validated block per name, or {"name", "error"}."""
    out = []
    for name in names:
        block = store.get(name)
        if block is None:
            out.append({"name": name, "error": missing_block_message(store, name)})
            continue
        out.append(block_json(block, store.alternatives(block)))
    return out


def hit_json(rank: int, hit: Any, with_code: bool = False) -> dict[str, Any]:
    from indexer.store import VALIDATION_STAGES, stage_level

    b = hit.block
    level = stage_level(b.validation)
    data = {
        "rank": rank,
        "score": round(float(hit.score), 6),
        "match": hit.match,
        "name": b.name,
        "qualified_name": b.qualified_name,
        "hash": b.content_hash,
        "source_spec": b.provenance.source if b.provenances else "",
        "stage": VALIDATION_STAGES[level - 1] if level else "",
        "provenance": b.provenance.to_dict() if b.provenances else None,
    }
    if with_code:
        data["source"] = b.code
    return data


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def _stage_table(title: str, counts: dict[str, int], total: int) -> Any:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("stage")
    table.add_column("passed", justify="right")
    table.add_column("rate", justify="right")
    for stage, n in counts.items():
        table.add_row(stage, str(n), f"{100 * n / total:.1f}%" if total else "-")
    return table


def _warn_about_sources(report: Any) -> None:
    """Say on stderr what a build left out: sources the previous version had (no ``--add``), earlier sources kept
    unread, and files that gave no block. Why: each one is blocks a user expects and will not find."""
    for spec, blocks in report.dropped.items():
        typer.echo(f"warning: {spec} ({blocks} blocks) is no longer indexed: only the sources given are kept "
                   "(--add keeps the others)", err=True)
    for sr in report.sources:
        if sr.error:
            typer.echo(f"warning: {sr.spec}: {sr.error}", err=True)
        if not sr.error and sr.files and not sr.blocks:
            typer.echo(f"warning: {sr.spec}: no block (no nn.Module class) in its {sr.files} Python file(s)", err=True)
        if sr.skipped:
            shown = "; ".join(f"{path}: {why}" for path, why in list(sr.skipped.items())[:3])
            more = f"; and {len(sr.skipped) - 3} more (--json lists them)" if len(sr.skipped) > 3 else ""
            typer.echo(f"warning: {sr.spec}: {len(sr.skipped)} file(s) gave no block: {shown}{more}", err=True)


def missing_modules_line(sr: Any) -> str:
    """What a source's blocks that stopped at import lack, as a line ("" when none did). Why at the end of ``index``:
    a package's declared dependencies that are not installed here stop its blocks at import (49 of x-transformers'
    97), and a plain re-index does not check them again: the verdicts stand until ``--force``."""
    if not sr.missing_modules:
        return ""
    names = ", ".join(f"{module} ({n})" for module, n in sr.missing_modules.items())
    several = len(sr.missing_modules) > 1
    return (f"{sr.spec}: {sr.stopped_by_missing} block(s) stop at import: {names} {'are' if several else 'is'} not "
            f"installed here; pip install {'them' if several else 'it'} and re-index with --force to validate them")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app."""

    @app.command("index")
    def index_command(
        source: Optional[list[str]] = typer.Option(None, "--source", "-s", help="SPEC to index (repeatable): pkg:timm, pkg:torch.nn, dir:PATH, wheel:PATH, pypi:NAME==VER, lemur; an archive's modules alone: pypi:d2l==0.17.6#d2l.torch. Default: the settings' index_sources (torch.nn, torchvision, timm, fightingcv-attention, ultralytics, vit-pytorch, segmentation-models-pytorch, pytorch-tcn, pytorch-forecasting, lightning-bolts, denoising-diffusion-pytorch, neuralforecast, yolox, mmpretrain, transformers' activations, pytorch_utils, Llama and GPT-2 modules, nano-gpt, pytorchcv, d2l's torch module)."),
        store_dir: Optional[Path] = typer.Option(None, "--store", help=STORE_HELP),
        add: bool = typer.Option(False, "--add", help="Keep the sources already indexed and add these."),
        force: bool = typer.Option(False, "--force", help="Rebuild everything: no reuse of earlier results."),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, max=64, help="Sandbox processes for validation."),
        no_validate: bool = typer.Option(False, "--no-validate", help="Store blocks without validating them (fast, retrieval only)."),
        as_json: bool = typer.Option(False, "--json", help="Print the build report as JSON."),
    ) -> None:
        """Mine, deduplicate, validate and embed blocks into the store; publish atomically."""
        from rich.console import Console

        from indexer.build import build_index, default_sources
        from indexer.store import StoreError

        path = buildable_store_path(store_dir)
        specs = list(source) if source else None
        if specs is None:
            specs, warnings = default_sources()
            for warning in warnings:
                typer.echo(f"warning: {warning}", err=True)
        try:
            report = build_index(specs, path, force=force, add=add, workers=workers, validate=not no_validate, progress=not as_json)
        except (ValueError, StoreError, FileNotFoundError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        _warn_about_sources(report)
        missing = [line for line in map(missing_modules_line, report.sources) if line]
        if as_json:
            for line in missing:  # stdout is the JSON: each source's "missing_modules" says it there
                typer.echo(line, err=True)
            _print_json(report.to_dict())
            return
        from rich.table import Table

        console = Console()
        state = "up to date (nothing changed)" if report.up_to_date else f"published version {report.version}"
        console.print(f"[bold]{escape(str(report.store_dir))}[/]: {state} in {report.total_seconds:.1f} s")
        table = Table(title="sources")
        for col in ("source", "files", "mined", "unique", "reused", "seconds"):
            table.add_column(col, justify="right" if col not in ("source",) else "left")
        for s in report.sources:
            table.add_row(escape(s.spec), str(s.files), str(s.blocks), str(s.unique_blocks), "yes" if s.reused else "no", f"{s.seconds:.1f}")
        print_table(table, console)
        console.print(
            f"mined {report.mined}, unique {report.unique} ({report.duplicates_merged} duplicates merged, {report.near_dup_groups} near-dup groups); "
            f"validated {report.validated} (reused {report.validation_reused}), embedded {report.embedded} (reused {report.embeddings_reused})",
            soft_wrap=not console.is_terminal,  # one line on a pipe: "(reused \n0)" broke a grep for the counts
        )
        print_table(_stage_table("blocks passing each stage", report.passed, report.unique), console)
        if report.stage_seconds:
            console.print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report.stage_seconds.items()), soft_wrap=not console.is_terminal)
        for line in missing:
            console.print(line, markup=False, soft_wrap=True)

    @app.command("search")
    def search_command(
        query: str = typer.Argument(..., help="What you need, in words or code (e.g. 'squeeze excitation channel attention')."),
        k: int = typer.Option(10, "-k", "--k", min=1, max=MAX_K, help="Number of results (the server allows the same)."),
        source: Optional[list[str]] = typer.Option(None, "--source", help="Only blocks from these source specs.", callback=stored_source_specs),
        min_stage: Optional[str] = typer.Option(None, "--min-stage", help="Only blocks that passed this stage (e.g. forward)."),
        mode: SearchMode = typer.Option(SearchMode.auto, "--mode", help=MODE_HELP),
        code: bool = typer.Option(False, "--code", help="Include each block's code in --json output."),
        license_policy: Optional[LicensePolicy] = typer.Option(
            None, "--license-policy", help="Licenses a block's source may carry (default from settings).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
        store_dir: Optional[Path] = typer.Option(None, "--store", help=STORE_HELP),
        server: Optional[str] = typer.Option(None, "--server", help=SERVER_HELP),
    ) -> None:
        """Rank blocks by name or meaning: a one-identifier query finds the blocks of that name first, then hybrid
        FAISS + BM25 (fused by rank) fills up to k; any other query is hybrid (see --mode). The SDK and server default
        to the same auto mode."""
        problem = query_problem(query)
        if problem:
            raise typer.BadParameter(f"query {problem}", param_hint="QUERY")
        policy = license_policy.value if license_policy is not None else None
        if server:
            rows = _remote_search(server, query, k, source, min_stage, code, mode.value, policy)
        else:
            store = open_filtered_store(store_dir, source, policy)
            try:
                hits = search_blocks(store, query, k=k, min_stage=min_stage or "", mode=mode.value)
            except ValueError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None
            rows = [hit_json(i + 1, h, with_code=code) for i, h in enumerate(hits)]
        if as_json:
            _print_json(rows)
            return
        if not rows and query.strip().isidentifier():  # a typo (DropPth): the names `nnrag block` would suggest
            looked_up = _remote_block(server, [query.strip()], source, policy) if server else lookup_blocks(store, [query.strip()])
            if "error" in looked_up[0]:
                typer.echo(f"# {looked_up[0]['error']}", err=True)
        from rich.table import Table

        table = Table(title=f"search: {escape(query)}")
        for col in ("#", "score", "match", "name", "qualified name", "stage", "source", "license"):
            table.add_column(col)
        for r in rows:
            lic = (r["provenance"] or {}).get("license") or "-"
            cells = (r["match"], r["name"], r["qualified_name"], r["stage"] or "-", r["source_spec"], lic)
            table.add_row(str(r["rank"]), f"{r['score']:.4f}", *map(escape, cells))  # store or server text: no markup
        print_table(table)

    @app.command("block")
    def block_command(
        names: list[str] = typer.Argument(..., help="Block names (class name, qualified name or content hash)."),
        source: Optional[list[str]] = typer.Option(None, "--source", help="Only blocks from these source specs.", callback=stored_source_specs),
        license_policy: Optional[LicensePolicy] = typer.Option(
            None, "--license-policy", help="Licenses a block's source may carry (default from settings).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per name."),
        store_dir: Optional[Path] = typer.Option(None, "--store", help=STORE_HELP),
        server: Optional[str] = typer.Option(None, "--server", help=SERVER_HELP),
    ) -> None:
        """Print the scope-closed code of blocks (the best-validated one for a shared name)."""
        policy = license_policy.value if license_policy is not None else None
        if any(not name.strip() for name in names):  # as GetBlock refuses it: "no block named ''" (exit 1) in process only
            typer.echo("error: a block name is empty: give a class name, qualified name or content hash", err=True)
            raise typer.Exit(2)
        if server:
            items = _remote_block(server, names, source, policy)
        else:
            items = lookup_blocks(open_filtered_store(store_dir, source, policy), names)
        if as_json:
            _print_json(items)
        else:
            for item in items:
                if "error" in item:
                    typer.echo(f"# {item['name']}: {item['error']}", err=True)
                    continue
                p = item["provenance"][0] if item["provenance"] else {}
                passed = [s for s, v in item["validation"].items() if v["ok"]]
                typer.echo(f"# {item['qualified_name']}  ({p.get('source', '')} {p.get('path', '')}:{p.get('line_start', '')})")
                typer.echo(f"# passed: {', '.join(passed) or 'nothing'}; hash {item['hash'][:12]}")
                typer.echo(item["source"])
        if any("error" in i for i in items):
            raise typer.Exit(1)

    @app.command("stats")
    def stats_command(
        as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
        store_dir: Optional[Path] = typer.Option(None, "--store", help=STORE_HELP),
        server: Optional[str] = typer.Option(None, "--server", help=SERVER_HELP),
    ) -> None:
        """Counts of blocks by source and by validation stage."""
        stats = _remote_stats(server) if server else open_store(store_dir).stats()
        if as_json:
            _print_json(stats)
            return
        from rich.console import Console
        from rich.table import Table

        from indexer.store import VALIDATION_STAGES

        console = Console()
        console.print(f"index {stats['version']} at {stats['path']}: {stats['blocks']} blocks, {stats['names']} names, "
                      f"{stats['near_dup_groups']} near-dup groups, embedder {stats['embedder_version']}", markup=False, soft_wrap=True)
        table = Table(title="blocks by source and stage passed")
        table.add_column("source")
        table.add_column("files", justify="right")
        table.add_column("mined", justify="right")  # before identical blocks were merged; a server before 'mined_blocks': -
        table.add_column("unique", justify="right")
        for s in VALIDATION_STAGES:
            table.add_column(s, justify="right")
        for spec, row in stats["by_source"].items():
            table.add_row(escape(spec), str(row["files"]), str(row.get("mined_blocks", "-")), str(row["blocks"]),
                          *(str(row[s]) for s in VALIDATION_STAGES))
        table.add_row("all", "", "", str(stats["blocks"]), *(str(stats["by_stage"][s]) for s in VALIDATION_STAGES), style="bold")
        print_table(table, console)


# --------------------------------------------------------------------------------------
# --server ADDR: the over-the-wire path (wired by the gRPC side; same JSON shapes)
# --------------------------------------------------------------------------------------


def _remote_search(server: str, query: str, k: int, sources: Optional[list[str]], min_stage: Optional[str], with_code: bool,
                   mode: str = "hybrid", license_policy: Optional[str] = None) -> list[dict[str, Any]]:
    with remote_client(server) as client:
        result = client.search(query, k=k, sources=sources, min_stage=min_stage, mode=mode, include_code=with_code, license_policy=license_policy)
    return [hit_json(i + 1, h, with_code=with_code) for i, h in enumerate(result.hits)]


def _remote_block(server: str, names: list[str], sources: Optional[list[str]] = None,
                  license_policy: Optional[str] = None) -> list[dict[str, Any]]:
    from rag_server.client import NotFound

    out = []
    with remote_client(server) as client:
        for name in names:
            try:
                block, alternatives = client.get_block_with_alternatives(name, sources=sources, license_policy=license_policy)
            except NotFound as exc:
                out.append({"name": name, "error": exc.details.removeprefix("name_or_hash: ")})  # the CLI's words have no field
                continue
            out.append(block_json(block, alternatives))
    return out


def _remote_stats(server: str) -> dict[str, Any]:
    """The server's store counts; exit 2 when it serves no store (it answers Stats with the sandbox alone)."""
    with remote_client(server) as client:
        stats = client.stats()
    if "store_error" in stats:
        typer.echo(f"error: {server}: {stats['store_error']}", err=True)
        raise typer.Exit(2)
    return stats
