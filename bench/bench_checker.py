"""Checker throughput: the warm CheckerPool vs a cold ``python -c`` subprocess per check.

Both sides run the same staged check (parse -> backward, FLOPs counted) on the same small
CIFAR models, with the same parallelism (``--workers``), in the same run; the cold side is
what the anchors do (a fresh interpreter that imports torch for every check).
``--soak N`` adds a long mixed run (10% hostile) and reports leaks.

    .venv/bin/python bench/bench_checker.py --warm 200 --cold 12 --workers 2
    .venv/bin/python bench/bench_checker.py --soak 1000

Writes bench/results/checker.json (and checker_soak.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.pool import CheckerPool  # noqa: E402
from sandbox.spec import CheckResult, CheckSpec  # noqa: E402

RESULTS = ROOT / "bench" / "results"

MODEL_TEMPLATE = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        widths = {widths}
        layers, cin = [], 3
        for w in widths:
            layers += [Block(cin, w), nn.MaxPool2d(2)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
'''

COLD_SCRIPT = (
    "import json, sys, torch; torch.set_num_threads(1)\n"
    "from sandbox.runner import run_check\n"
    "from sandbox.spec import CheckSpec\n"
    "req = json.load(sys.stdin)\n"
    "print(json.dumps(run_check(req['code'], CheckSpec.from_dict(req['spec']), lambda _: None)))\n"
)


def small_models(count: int) -> list[str]:
    shapes = [[8], [16], [8, 16], [16, 32], [8, 16, 32], [16, 16, 32], [16, 32, 64], [32, 64]]
    return [MODEL_TEMPLATE.replace("{widths}", repr(shapes[i % len(shapes)])) for i in range(count)]


def cold_check(code: str, spec: CheckSpec) -> tuple[float, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", COLD_SCRIPT], input=json.dumps({"code": code, "spec": spec.to_dict()}),
                          capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.monotonic() - start
    status = json.loads(proc.stdout.strip().splitlines()[-1])["status"] if proc.returncode == 0 else f"rc={proc.returncode}"
    return elapsed, status


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_warm(pool: CheckerPool, codes: list[str], spec: CheckSpec, workers: int) -> dict:
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    def one(code: str) -> CheckResult:
        start = time.monotonic()
        result = pool.check(code, spec)
        latencies.append((time.monotonic() - start) * 1000)
        return result

    start = time.monotonic()
    with ThreadPoolExecutor(workers) as executor:
        for result in executor.map(one, codes):
            statuses[result.status] = statuses.get(result.status, 0) + 1
    elapsed = time.monotonic() - start
    return {"checks": len(codes), "seconds": elapsed, "checks_per_s": len(codes) / elapsed,
            "p50_ms": percentile(latencies, 0.5), "p95_ms": percentile(latencies, 0.95), "statuses": statuses}


def run_cold(codes: list[str], spec: CheckSpec, workers: int) -> dict:
    start = time.monotonic()
    with ThreadPoolExecutor(workers) as executor:
        outcomes = list(executor.map(lambda c: cold_check(c, spec), codes))
    elapsed = time.monotonic() - start
    latencies = [o[0] * 1000 for o in outcomes]
    statuses: dict[str, int] = {}
    for _, status in outcomes:
        statuses[status] = statuses.get(status, 0) + 1
    return {"checks": len(codes), "seconds": elapsed, "checks_per_s": len(codes) / elapsed,
            "p50_ms": percentile(latencies, 0.5), "p95_ms": percentile(latencies, 0.95), "statuses": statuses}


HOSTILE = [
    "while True:\n    pass\n",
    "import os\nos._exit(1)\n",
    "import ctypes\nctypes.string_at(0)\n",
    "x = bytearray(2**40)\n",
    "import ctypes\nlibc = ctypes.CDLL(None)\nwhile True:\n    libc.fork()\n",
    "import threading, time\nthreading.Thread(target=lambda: time.sleep(100)).start()\n",
    "open('/tmp/nnrag-soak-escape', 'w').write('x')\n",
    "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n",
]


def soak(count: int, workers: int) -> dict:
    """count mixed checks, every 10th hostile; then count leaked processes and work dirs."""
    codes = small_models(8)
    items = []
    for i in range(count):
        if i % 10 == 0:
            items.append((HOSTILE[(i // 10) % len(HOSTILE)], CheckSpec(timeout_s=2.0, memory_mb=512)))
        else:
            items.append((codes[i % len(codes)], CheckSpec(timeout_s=10.0)))
    start = time.monotonic()
    statuses: dict[str, int] = {}
    wrong = 0
    with CheckerPool(size=workers, preload=("torch",)) as pool:
        pool.wait_ready()
        for i, result in enumerate(pool.check_many(items)):
            statuses[result.status] = statuses.get(result.status, 0) + 1
            if i % 10 and result.status != "ok":
                wrong += 1
        elapsed = time.monotonic() - start
        time.sleep(3)  # let the reaper collect the last children
        leaked = [e for e in os.listdir("/proc") if e.isdigit() and _uid(e) in pool.uid_range] if pool.isolation.uid_drop else []
        workdirs = sum(len([p for p in os.listdir(f"/proc/{pid}/root/tmp") if p.startswith("check-")]) for pid in pool.worker_pids())
        health = pool.check(codes[0]).status
        restarts = pool.restarts
    return {"checks": count, "seconds": elapsed, "statuses": statuses, "benign_not_ok": wrong, "leaked_processes": len(leaked),
            "work_dirs_left": workdirs, "spares_expected": workers, "worker_restarts": restarts, "health_check_after": health,
            "escape_file_exists": Path("/tmp/nnrag-soak-escape").exists()}


def _uid(pid: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", type=int, default=200, help="checks on the warm pool")
    parser.add_argument("--cold", type=int, default=12, help="cold subprocess checks")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--soak", type=int, default=0, help="also run a mixed soak of this many checks")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from rich.console import Console
    from rich.table import Table

    console = Console()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.soak and args.warm == 0 and args.cold == 0:  # soak only
        result = soak(args.soak, args.workers)
        console.print(f"soak: {json.dumps(result)}")
        (RESULTS / "checker_soak.json").write_text(json.dumps(result, indent=2))
        return
    spec = CheckSpec()  # parse .. backward, FLOPs counted
    report: dict = {"workers": args.workers, "cpu_count": os.cpu_count(), "load_avg_start": os.getloadavg()}
    start = time.monotonic()
    with CheckerPool(size=args.workers, preload=("torch",)) as pool:
        pool.wait_ready()
        report["pool_start_s"] = time.monotonic() - start
        report["isolation"] = pool.isolation.summary()
        pool.check(small_models(1)[0], spec)  # first-check effects out of the measurement
        report["warm"] = run_warm(pool, small_models(args.warm), spec, args.workers)
        report["cold"] = run_cold(small_models(args.cold), spec, args.workers)
        report["warm_again"] = run_warm(pool, small_models(args.warm), spec, args.workers)  # bracket the cold run
    warm_rate = (report["warm"]["checks_per_s"] + report["warm_again"]["checks_per_s"]) / 2
    report["speedup_throughput"] = warm_rate / report["cold"]["checks_per_s"]
    report["speedup_p50_latency"] = report["cold"]["p50_ms"] / statistics.mean([report["warm"]["p50_ms"], report["warm_again"]["p50_ms"]])
    report["load_avg_end"] = os.getloadavg()
    table = Table(title=f"Checker: warm pool vs cold subprocess ({args.workers} workers, {os.cpu_count()} cores)")
    for col in ("mode", "checks", "checks/s", "p50 ms", "p95 ms", "statuses"):
        table.add_column(col)
    for mode in ("warm", "cold", "warm_again"):
        r = report[mode]
        table.add_row(mode, str(r["checks"]), f"{r['checks_per_s']:.2f}", f"{r['p50_ms']:.0f}", f"{r['p95_ms']:.0f}", json.dumps(r["statuses"]))
    console.print(table)
    console.print(f"speedup (throughput): {report['speedup_throughput']:.1f}x; p50 latency ratio: {report['speedup_p50_latency']:.1f}x; "
                  f"pool start {report['pool_start_s']:.1f} s; isolation: {report['isolation']}; load {report['load_avg_start']}")
    (RESULTS / "checker.json").write_text(json.dumps(report, indent=2))
    if args.soak:
        result = soak(args.soak, args.workers)
        console.print(f"soak: {json.dumps(result)}")
        (RESULTS / "checker_soak.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
