"""Server benchmark: search latency/QPS over gRPC at 1, 8 and 32 asyncio clients, check throughput, RSS.

    python bench/bench_server.py [--store DIR] [--workers 2] [--seconds 8]

Starts ``nnrag serve`` as a subprocess on a free loopback port (so its RSS is its
own), then drives it with ``AsyncClient`` coroutines sharing one channel. Every
request uses a distinct query text (no cache can help). Baselines measured in the
same run: in-process ``BlockStore.search``/``lookup_symbol`` (one query at a time,
no gRPC, no batching) and in-process ``CheckerPool`` check throughput.
Writes ``bench/results/server.json`` and prints a rich table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _env import REPO  # noqa: E402  (offline hub, one thread, repo on sys.path)
from _proc import free_port, rss_mb  # noqa: E402

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402


from rag_server.client import AsyncClient, Client  # noqa: E402

CHECK_MODEL = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, width={width}):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))
"""

TEMPLATES = (
    "{words} block for image classification",
    "a {words} layer with residual connection {i}",
    "module that implements {words} (variant {i})",
    "{words} with normalization and activation #{i}",
    "how to build {words} in pytorch {i}",
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out.extend(int(t) for t in text)
    return out


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(server process RSS, RSS of the server plus all its descendants) in MiB."""
    own = rss_mb(pid)
    total, stack = own, children(pid)
    while stack:
        child = stack.pop()
        try:
            total += rss_mb(child)
            stack.extend(children(child))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return own, total


def meaning_queries(names: list[str], n: int) -> list[str]:
    from indexer.embed import split_identifier

    queries, i = [], 0
    while len(queries) < n:
        name = names[i % len(names)]
        words = " ".join(split_identifier(name)) or name
        queries.append(TEMPLATES[i % len(TEMPLATES)].format(words=words, i=i))
        i += 1
    return queries


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": pick(0.50), "p90_ms": pick(0.90), "p99_ms": pick(0.99), "mean_ms": statistics.fmean(ordered)}


async def drive(address: str, clients: int, texts: list[str], mode: str, seconds: float) -> dict[str, float]:
    """``clients`` coroutines, each sending its next distinct text as soon as the last answer came."""
    latencies: list[float] = []
    errors = 0
    cursor = iter(texts)
    stop_at = time.perf_counter() + seconds

    async with AsyncClient(address, timeout=30) as client:
        async def one_client() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                text = next(cursor, None)
                if text is None:
                    return
                t0 = time.perf_counter()
                try:
                    await client.search(text, k=10, mode=mode, include_code=False)
                except Exception:  # noqa: BLE001 - counted, reported
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000.0)

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies), "errors": errors, "qps": len(latencies) / wall, **percentiles(latencies)}


def in_process_baseline(store_dir: Path, names: list[str], queries: list[str]) -> dict[str, dict[str, float]]:
    """One query at a time straight into the store: no gRPC, no batching."""
    from indexer.store import BlockStore

    store = BlockStore(store_dir)
    store.search("warm up query", k=10)
    out = {}
    for label, fn, items in (("symbol", lambda q: store.lookup_symbol(q, k=10), names[:300]), ("meaning", lambda q: store.search(q, k=10), queries[:150])):
        lat = []
        for q in items:
            t0 = time.perf_counter()
            fn(q)
            lat.append((time.perf_counter() - t0) * 1000.0)
        out[label] = percentiles(lat)
    store.close()
    return out


def check_throughput_server(address: str, n: int) -> float:
    with Client(address, timeout=300) as client:
        t0 = time.perf_counter()
        results = list(client.audit([CHECK_MODEL.format(width=8 + i) for i in range(n)]))
        wall = time.perf_counter() - t0
    assert all(r.result is not None and r.result.status == "ok" for r in results), [r.result.status if r.result else r.error for r in results]
    return n / wall


def check_throughput_in_process(workers: int, n: int) -> float:
    from concurrent.futures import ThreadPoolExecutor

    from sandbox.pool import CheckerPool

    with CheckerPool(size=workers) as pool:
        pool.check(CHECK_MODEL.format(width=4))  # warm
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as ex:
            results = list(ex.map(lambda i: pool.check(CHECK_MODEL.format(width=8 + i)), range(n)))
        wall = time.perf_counter() - t0
    assert all(r.ok for r in results)
    return n / wall


def main() -> None:
    from nnrag.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None, help="store directory (default: the settings' store)")
    parser.add_argument("--workers", type=int, default=2, help="sandbox workers in the server")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each search level")
    parser.add_argument("--checks", type=int, default=16, help="checks for the throughput comparison")
    parser.add_argument("--embed-threads", type=int, default=1, help="ONNX Runtime threads of the server's query embedder")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "server.json")
    args = parser.parse_args()
    store_dir = args.store or get_settings().store_path
    console = Console()

    from indexer.store import BlockStore

    store = BlockStore(store_dir)
    names = store.all_names()
    n_blocks = len(store)
    store_version = store.version
    store.close()
    queries = meaning_queries(names, 20_000)
    symbols = [names[i % len(names)] for i in range(20_000)]  # distinct while the name list lasts

    console.print(f"store {store_dir} ({n_blocks} blocks, {len(names)} names); in-process baseline ...")
    baseline = in_process_baseline(store_dir, names, queries[15_000:])

    port = free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "NNRAG_LOG_LEVEL": "WARNING", "NNRAG_MAX_CONCURRENT_RPCS": "128", "NNRAG_EMBED_THREADS": str(args.embed_threads)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from nnrag.cli import main; main()", "serve", "--address", address, "--store", str(store_dir), "--workers", str(args.workers)],
        cwd=REPO, env=env,
    )
    results: dict = {"store": str(store_dir), "store_version": store_version, "blocks": n_blocks, "workers": args.workers,
                     "embed_threads": args.embed_threads, "load_average_at_start": os.getloadavg(),
                     "cores": os.cpu_count(), "python": platform.python_version(), "baseline_in_process": baseline, "search": []}
    try:
        with Client(address) as c:
            c.wait_ready(timeout=120)
            started = time.perf_counter()
            while c.health() != "SERVING" and time.perf_counter() - started < 120:
                time.sleep(0.5)
            c.search("warm up the embedder", k=3)
        results["rss_idle_mb"] = dict(zip(("server", "with_workers"), tree_rss_mb(proc.pid)))
        offset = 0
        for mode, texts in (("symbol", symbols), ("meaning", queries)):
            for clients in (1, 8, 32):
                chunk = texts[offset:] if mode == "meaning" else texts
                cpu_before = cpu_seconds(proc.pid)
                row = asyncio.run(drive(address, clients, chunk, mode, args.seconds))
                # CPU the server spent per answered request: a load-independent cost, and the QPS
                # two otherwise idle cores could sustain at that cost (an upper bound).
                row["server_cpu_ms_per_request"] = (cpu_seconds(proc.pid) - cpu_before) * 1000.0 / max(1, row["requests"])
                row["qps_bound_2_idle_cores"] = 2000.0 / max(row["server_cpu_ms_per_request"], 1e-6)
                offset += row["requests"] + row["errors"] if mode == "meaning" else 0
                row["mode"] = mode
                results["search"].append(row)
                console.print(f"{mode:8s} clients={clients:2d} p50={row['p50_ms']:.2f} ms p99={row['p99_ms']:.2f} ms qps={row['qps']:.0f}")
        results["rss_after_search_mb"] = dict(zip(("server", "with_workers"), tree_rss_mb(proc.pid)))
        check_model_warm = Client(address, timeout=300)
        check_model_warm.check(CHECK_MODEL.format(width=4))
        check_model_warm.close()
        results["checks_per_s_server"] = check_throughput_server(address, args.checks)
        results["rss_after_checks_mb"] = dict(zip(("server", "with_workers"), tree_rss_mb(proc.pid)))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    results["checks_per_s_in_process"] = check_throughput_in_process(args.workers, args.checks)

    table = Table(title=f"nnrag server, {n_blocks} blocks, {os.cpu_count()} cores, {args.workers} sandbox workers")
    for col in ("mode", "clients", "p50 ms", "p99 ms", "QPS", "errors", "in-process p50 ms", "server CPU ms/req", "QPS bound, 2 idle cores"):
        table.add_column(col, justify="right")
    for row in results["search"]:
        table.add_row(row["mode"], str(row["clients"]), f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.1f}", f"{row['qps']:.0f}",
                      str(row["errors"]), f"{baseline[row['mode']]['p50_ms']:.2f}", f"{row['server_cpu_ms_per_request']:.2f}",
                      f"{row['qps_bound_2_idle_cores']:.0f}")
    console.print(table)
    ratio = results["checks_per_s_server"] / results["checks_per_s_in_process"]
    console.print(f"checks/s through the server {results['checks_per_s_server']:.2f} vs in-process {results['checks_per_s_in_process']:.2f} (ratio {ratio:.2f})")
    console.print(f"server RSS idle {results['rss_idle_mb']}, after search {results['rss_after_search_mb']}, after checks {results['rss_after_checks_mb']} (MiB)")
    results["check_ratio_server_vs_in_process"] = ratio
    results["load_average_at_end"] = os.getloadavg()
    console.print(f"load average start {results['load_average_at_start']}, end {results['load_average_at_end']} (2 cores)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
