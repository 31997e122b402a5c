"""Soak: 10,000 mixed requests (1% hostile code) against ``nnrag serve``; the server must not crash,
answer only intended statuses, and keep a flat RSS.

    python bench/soak.py [--requests 10000] [--clients 8] [--store DIR]

The mix (seeded, reproducible): symbol and meaning searches, GetBlock (some unknown
names -> NOT_FOUND), Suggest, Stats, well-formed checks of small models, malformed
requests (-> INVALID_ARGUMENT) and 1% hostile code (infinite loops, fork bombs,
memory bombs, network and filesystem escapes, native crashes, output floods) that
must come back as an ordinary CheckResult (timeout/oom/crashed/failed), never as a
server error. RSS of the server process is sampled every 250 requests.
Writes ``bench/results/soak.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from _env import REPO  # noqa: E402  (offline hub, one thread, repo on sys.path)
from _proc import free_port, rss_mb  # noqa: E402


from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from rag_server.client import ApiError, AsyncClient, Client  # noqa: E402
from sandbox.spec import CheckSpec, Example  # noqa: E402

MODEL = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, {w}, 3, padding=1)
        self.fc = nn.Linear({w}, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))
"""

HOSTILE = {
    "infinite_loop": "while True:\n    pass\n",
    "signal_tricks": "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):\n    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n",
    "fork_bomb": "import os\nwhile True:\n    os.fork()\n",
    "memory_bomb": "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))\n",
    "network": "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=2).send(b'x')\n",
    "write_outside": "open('/etc/nnrag_soak_pwned', 'w').write('x')\n",
    "native_crash": "import ctypes\nctypes.string_at(0)\n",
    "exit_early": "import os\nos._exit(3)\n",
    "output_flood": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)\n",
}
HOSTILE_SPEC = CheckSpec(timeout_s=3.0, memory_mb=512)
WORDS = ("residual", "attention", "squeeze", "excitation", "depthwise", "convolution", "pooling", "normalization",
         "patch", "embedding", "bottleneck", "inverted", "mlp", "transformer", "drop", "path", "gated", "window")

# kind -> gRPC status codes that are the intended answer
INTENDED = {
    "symbol": {"OK"}, "meaning": {"OK"}, "get": {"OK"}, "get_unknown": {"NOT_FOUND"}, "suggest": {"OK"}, "stats": {"OK"},
    "check": {"OK", "RESOURCE_EXHAUSTED"}, "hostile": {"OK", "RESOURCE_EXHAUSTED"}, "bad_input": {"INVALID_ARGUMENT"},
}


def make_plan(n: int, names: list[str], seed: int = 0) -> list[tuple[str, object]]:
    """(kind, payload) in a fixed random order: 1% hostile, 4% checks, the rest cheap calls."""
    rng = random.Random(seed)
    weights = {"symbol": 30, "meaning": 30, "get": 12, "get_unknown": 3, "suggest": 8, "stats": 2, "check": 4, "bad_input": 10, "hostile": 1}
    kinds = rng.choices(list(weights), weights=list(weights.values()), k=n)
    hostile_names = sorted(HOSTILE)
    plan: list[tuple[str, object]] = []
    for i, kind in enumerate(kinds):
        if kind == "symbol":
            payload: object = names[i % len(names)]
        elif kind == "meaning":
            payload = " ".join(rng.sample(WORDS, 3)) + f" block {i}"
        elif kind == "get":
            payload = names[rng.randrange(len(names))]
        elif kind == "get_unknown":
            payload = f"NoSuchBlock{i}"
        elif kind == "suggest":
            payload = MODEL.format(w=8).replace("self.fc = nn.Linear", f"self.extra = {rng.choice(names)}(8)\n        self.fc = nn.Linear")
        elif kind == "check":
            payload = MODEL.format(w=4 + i % 32)
        elif kind == "hostile":
            payload = hostile_names[i % len(hostile_names)]
        elif kind == "bad_input":
            payload = i % 4
        else:
            payload = None
        plan.append((kind, payload))
    return plan


async def call(client: AsyncClient, kind: str, payload: object) -> str | None:
    """Run one request; returns the CheckResult status for checks (else None)."""
    if kind in ("symbol", "meaning"):
        await client.search(str(payload), k=10, mode=kind, include_code=False)
    elif kind in ("get", "get_unknown"):
        await client.get_block(str(payload))
    elif kind == "suggest":
        await client.suggest(str(payload), k=3)
    elif kind == "stats":
        await client.stats()
    elif kind == "check":
        return (await client.check(str(payload))).status
    elif kind == "hostile":
        return (await client.check(HOSTILE[str(payload)], HOSTILE_SPEC, timeout=60)).status
    elif kind == "bad_input":
        bad = [
            lambda: client.search("", k=3),
            lambda: client.search("conv", k=10_000),
            lambda: client.check(MODEL.format(w=4), CheckSpec(example=Example(inputs=[[0, 3, 32, 32]]))),
            lambda: client.check("   "),
        ]
        await bad[int(payload)]()
    return None


async def soak(address: str, plan: list[tuple[str, object]], clients: int, pid: int, console: Console) -> dict:
    codes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    check_status: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    unintended: list[str] = []
    rss: list[tuple[int, float]] = []
    done = 0
    queue: asyncio.Queue = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)

    async with AsyncClient(address, timeout=60) as client:
        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                kind, payload = queue.get_nowait()
                try:
                    status = await call(client, kind, payload)
                    code = "OK"
                    if status is not None:
                        check_status[kind if kind != "hostile" else f"hostile:{payload}"][status] += 1
                except ApiError as exc:
                    code, status = exc.code.name, None
                codes[kind][code] += 1
                if code not in INTENDED[kind]:
                    unintended.append(f"{kind}({str(payload)[:40]!r}) -> {code}")
                done += 1
                if done % 250 == 0:
                    rss.append((done, rss_mb(pid)))
                if done % 1000 == 0:
                    console.print(f"{done} requests, server RSS {rss[-1][1]:.0f} MiB, unintended {len(unintended)}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    return {"codes": {k: dict(v) for k, v in codes.items()}, "check_statuses": {k: dict(v) for k, v in check_status.items()},
            "unintended": unintended, "rss_samples": rss, "wall_s": wall}


def main() -> int:
    from nnrag.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "soak.json")
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 150)
    store_dir = args.store or get_settings().store_path

    from indexer.store import BlockStore

    store = BlockStore(store_dir)
    names = store.all_names()
    store.close()
    plan = make_plan(args.requests, names)

    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "NNRAG_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-c", "from nnrag.cli import main; main()", "serve", "--address", address,
                             "--store", str(store_dir), "--workers", str(args.workers)], cwd=REPO, env=env)
    try:
        with Client(address) as c:
            c.wait_ready(timeout=300)
            c.check(MODEL.format(w=4), timeout=300)  # warm the sandbox
        result = asyncio.run(soak(address, plan, args.clients, proc.pid, console))
        alive = proc.poll() is None
        with Client(address) as c:
            health = c.health() if alive else "DEAD"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
    samples = [r for _, r in result["rss_samples"]]
    warm = samples[len(samples) // 10: len(samples) // 10 + 4] or samples[:1]
    tail = samples[-4:]
    growth = (sum(tail) / len(tail)) - (sum(warm) / len(warm)) if samples else 0.0
    hostile_ok = sum(v.get("ok", 0) for k, v in result["check_statuses"].items() if k.startswith("hostile:"))
    result.update({
        "requests": args.requests, "clients": args.clients, "server_alive": alive, "health_after": health, "exit_code": proc.returncode,
        "rss_warm_mb": warm, "rss_end_mb": tail, "rss_growth_mb": growth, "hostile_reported_ok": hostile_ok,
        "escaped_file_exists": Path("/etc/nnrag_soak_pwned").exists(),
    })
    table = Table(title=f"soak: {args.requests} requests, {args.clients} clients, {result['wall_s']:.0f} s")
    for col in ("kind", "gRPC statuses", "check statuses"):
        table.add_column(col)
    for kind in INTENDED:
        statuses = {k.split(":", 1)[1]: v for k, v in result["check_statuses"].items() if k.startswith("hostile:")} if kind == "hostile" else result["check_statuses"].get(kind, {})
        table.add_row(kind, json.dumps(result["codes"].get(kind, {})), json.dumps(statuses) if statuses else "")
    console.print(table)
    passed = alive and health == "SERVING" and not result["unintended"] and growth < 64 and not result["escaped_file_exists"]
    console.print(f"server alive: {alive}, health {health}; unintended statuses: {len(result['unintended'])}; "
                  f"RSS warm {warm} -> end {tail} MiB (growth {growth:+.1f} MiB); hostile checks reported ok: {hostile_ok}; "
                  f"[{'green' if passed else 'red'}]{'PASS' if passed else 'FAIL'}[/]")
    result["passed"] = passed
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
