"""Audit reports: per-stage pass rates, failure taxonomy, parameter/FLOP histograms, slowest
models, throughput; written as ``report.md``, ``report.html`` (plots inline) and ``summary.json``.
"""

from __future__ import annotations

import base64
import collections
import html
import io
import json
import re
from pathlib import Path
from typing import Any

from sandbox.audit import load_current, load_done, load_records, skip_reason
from sandbox.spec import STAGES

ACTIVE_GAP_S = 300.0  # gaps longer than this between results are pauses, not work


def _normalise_message(text: str) -> str:
    """Collapse whitespace (a multi-line message is one table cell), numbers, quoted names and shapes
    so that similar failures group together."""
    text = " ".join(text.split())
    text = re.sub(r"'[^']*'", "'X'", text)
    text = re.sub(r"\[[0-9, ]+\]|\([0-9x, ]+\)", "[..]", text)
    text = re.sub(r"\d+", "N", text)
    return text[:140]


def _family(name: str) -> str:
    head = re.split(r"[-_]", name, maxsplit=1)[0]
    return head if head else name


def summarise(out_dir: Path) -> dict[str, Any]:
    """Figures over the codes the source holds now (current.jsonl), each with the settings the latest run checked it
    with: results of versions since changed or removed, or made with other settings, stay in results.jsonl for resume
    but are left out. Items that are no model (``sandbox.audit.skip_reason``: helper files, files that need their
    package) are listed under "skipped" and left out of every rate. Without any names, every result."""
    done = load_done(out_dir)
    names = load_current(out_dir)
    latest_by_hash = {digest: record for (digest, _), record in done.items()}  # for a current.jsonl without settings
    stored = load_records(out_dir)
    stored_hashes = {digest for digest, _ in stored}
    skipped: dict[str, list[str]] = {}
    unique: set = set()  # the checks the source needs now (hash, settings), decided or not
    wanted: dict = {}  # of those, the decided ones: their records
    undecided_keys: set = set()
    for name, entry in names.items():
        if entry.get("skipped"):
            skipped.setdefault(entry["skipped"], []).append(name)
            continue
        key = (entry["hash"], entry["settings"]) if "settings" in entry else entry["hash"]
        record = done.get(key) if "settings" in entry else latest_by_hash.get(key)
        reason = skip_reason(record["result"]) if record else None
        if reason:
            skipped.setdefault(reason, []).append(name)
            continue
        unique.add(key)
        if record is not None:
            wanted.setdefault(key, record)
        elif key in stored or key in stored_hashes:
            undecided_keys.add(key)
    if names:
        records = list(wanted.values())
    else:
        records = [r for r in done.values() if not skip_reason(r["result"])]
        undecided_keys = stored.keys() - done.keys()
    undecided = len(undecided_keys)
    # Rejected items (a malformed source line, code over the size limit) were never checked: in the status table and
    # the messages, not in the rates nor the timings (1 model and 5 bad lines read as "16.7% of checked pass", p50 0 ms).
    checked_records = [r for r in records if r["result"]["status"] != "rejected"]
    results = [r["result"] for r in records]
    checked = [r["result"] for r in checked_records]
    n = len(checked)
    stage_rates = {}
    for stage in STAGES:
        attempted = [r for r in checked if r.get("stages", {}).get(stage) in ("ok", "failed")]
        passed = [r for r in attempted if r["stages"][stage] == "ok"]
        reached_ok = sum(1 for r in checked if r.get("stages", {}).get(stage) == "ok")
        stage_rates[stage] = {"passed": len(passed), "attempted": len(attempted),
                              "rate_of_attempted": len(passed) / len(attempted) if attempted else None,
                              "rate_of_all": reached_ok / n if n else None}
    statuses = collections.Counter(r["status"] for r in results)
    failed = [r for r in results if r["status"] != "ok"]
    by_stage = collections.Counter(r.get("failed_stage") or "?" for r in failed)
    error_types = collections.Counter(r.get("error_type") or "?" for r in failed)
    kinds = collections.Counter((r.get("diagnosis") or {}).get("kind") or "?" for r in failed)
    messages = collections.Counter(_normalise_message(r.get("message") or "") for r in failed)
    families: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for record in records:
        families[_family(record["name"])][record["result"]["status"]] += 1
    inputs_used = collections.Counter(
        str(((r.get("example") or {}).get("inputs") or [None])[0]) for r in results if r["status"] == "ok")
    timestamps = sorted(r["ts"] for r in checked_records if "ts" in r)
    active = sum(b - a for a, b in zip(timestamps, timestamps[1:]) if b - a < ACTIVE_GAP_S)
    walls = sorted((r["result"].get("wall_ms") or 0.0) for r in checked_records)
    slowest = sorted(checked_records, key=lambda r: -(r["result"].get("wall_ms") or 0.0))[:15]
    return {
        "names": len(names), "unique_codes": len(unique) or len(results), "checked": n, "rejected": len(results) - n,
        "undecided": undecided,
        "skipped": {reason: sorted(keys) for reason, keys in sorted(skipped.items())},
        "statuses": dict(statuses), "stage_rates": stage_rates,
        "failed_stage": dict(by_stage.most_common()), "error_types": dict(error_types.most_common(15)),
        "diagnosis_kinds": dict(kinds.most_common(15)), "top_messages": messages.most_common(15),
        "inputs_used_by_ok": dict(inputs_used.most_common(8)),
        "families": {k: dict(v) for k, v in sorted(families.items(), key=lambda kv: -sum(kv[1].values()))[:20]},
        "active_seconds": active, "checks_per_minute": (n / active * 60) if active > 0 else None,
        "wall_ms_p50": walls[len(walls) // 2] if walls else None, "wall_ms_p95": walls[int(len(walls) * 0.95)] if walls else None,
        "slowest": [{"name": r["name"], "wall_ms": r["result"].get("wall_ms"), "status": r["result"]["status"],
                     "params": r["result"].get("params")} for r in slowest],
        "params": [r["params"] for r in checked if r.get("params")],
        "flops": [r["flops"] for r in checked if r.get("flops")],
        "forward_ms": [r["forward_ms"] for r in checked if r.get("forward_ms")],
    }


def _plots(summary: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """PNG files of the histograms; returns name -> base64 for inlining in HTML."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    images: dict[str, str] = {}

    def save(fig: Any, name: str) -> None:
        buffer = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=90)
        fig.savefig(out_dir / f"{name}.png", dpi=90)
        plt.close(fig)
        images[name] = base64.b64encode(buffer.getvalue()).decode()

    fig, ax = plt.subplots(figsize=(7, 3.2))
    rates = [(s, v["rate_of_all"]) for s, v in summary["stage_rates"].items() if v["rate_of_all"] is not None]
    ax.bar([s for s, _ in rates], [100 * r for _, r in rates], color="#4c72b0")
    ax.set_ylabel("% of checked codes passing")
    ax.set_ylim(0, 100)
    ax.set_title("Per-stage pass rate")
    save(fig, "stage_rates")
    for key, label in (("params", "parameters"), ("flops", "forward FLOPs per sample"), ("forward_ms", "forward ms (batch 2)")):
        values = [v for v in summary[key] if v and v > 0]
        if len(values) < 2:
            continue
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.hist(np.log10(values), bins=40, color="#55a868")
        ax.set_xlabel(f"log10 {label}")
        ax.set_ylabel("codes")
        ax.set_title(f"{label} (n={len(values)})")
        save(fig, f"hist_{key}")
    return images


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    """One markdown table cell: on one line (a newline would end the table and start whatever the checked
    code wrote, e.g. a heading) with its pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def write_report(out_dir: Path, title: str = "nnrag audit") -> dict[str, Any]:
    """Write report.md, report.html, summary.json (and PNG plots) into ``out_dir``."""
    summary = summarise(out_dir)
    images = _plots(summary, out_dir) if summary["checked"] else {}
    s = summary
    md = [f"# {title}", "",
          f"Names: {s['names']:,}; unique codes: {s['unique_codes']:,}; checked: {s['checked']:,}"
          + (f"; rejected, never checked (left out of every rate): {s['rejected']:,}" if s["rejected"] else "")
          + (f"; not decided (the sandbox or the machine ended the check; the next audit checks them again): {s['undecided']:,}" if s["undecided"] else "")
          + (f"; skipped, not models (left out of every rate): {sum(len(v) for v in s['skipped'].values()):,}." if s["skipped"] else "."),
          f"Throughput: {s['checks_per_minute']:.1f} checks/min over {s['active_seconds'] / 60:.1f} active minutes; "
          f"p50 {s['wall_ms_p50']:.0f} ms, p95 {s['wall_ms_p95']:.0f} ms per check." if s["checks_per_minute"] else "Throughput: -", "",
          "## Status", "", _table(["status", "count"], [[k, v] for k, v in sorted(s["statuses"].items(), key=lambda kv: -kv[1])]), "",
          "## Per-stage pass rates", "",
          _table(["stage", "passed", "attempted", "of attempted", "of all checked"],
                 [[k, v["passed"], v["attempted"], _pct(v["rate_of_attempted"]), _pct(v["rate_of_all"])] for k, v in s["stage_rates"].items()]), "",
          "## Failures", "", "By stage:", "", _table(["stage", "count"], [[k, v] for k, v in s["failed_stage"].items()]), "",
          "Top error types:", "", _table(["error type", "count"], [[k, v] for k, v in s["error_types"].items()]), "",
          "Top diagnosis kinds:", "", _table(["kind", "count"], [[k, v] for k, v in s["diagnosis_kinds"].items()]), "",
          "Top messages (normalised):", "", _table(["message", "count"], [[m, c] for m, c in s["top_messages"]]), "",
          "## Input shapes of passing checks", "", _table(["first input", "count"], [[k, v] for k, v in s["inputs_used_by_ok"].items()]), "",
          "## By family (name prefix)", "",
          _table(["family", "ok", "failed", "timeout", "oom", "crashed", "rejected"],
                 [[f] + [c.get(k, 0) for k in ("ok", "failed", "timeout", "oom", "crashed", "rejected")] for f, c in s["families"].items()]), "",
          "## Skipped (not models; not in any rate)", "",
          _table(["reason", "count", "examples"], [[k, len(v), ", ".join(v[:5]) + (" ..." if len(v) > 5 else "")] for k, v in s["skipped"].items()])
          if s["skipped"] else "None.", "",
          "## Slowest checks", "", _table(["name", "wall ms", "status", "params"], [[r["name"], f"{r['wall_ms'] or 0:.0f}", r["status"], r["params"]] for r in s["slowest"]]), "",
          "## Plots", ""] + [f"![{name}]({name}.png)" for name in images]
    text = "\n".join(md) + "\n"
    # the checked code's messages may hold lone surrogates: written as escapes, never a crash that every rerun repeats
    (out_dir / "report.md").write_text(text, encoding="utf-8", errors="backslashreplace")
    body = "".join(f'<p><img alt="{name}" src="data:image/png;base64,{data}"></p>' for name, data in images.items())
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style></head><body>"
            f"{_markdown_to_html(text)}{body}</body></html>")
    (out_dir / "report.html").write_text(page, encoding="utf-8", errors="backslashreplace")
    compact = {k: v for k, v in summary.items() if k not in ("params", "flops", "forward_ms")}
    (out_dir / "summary.json").write_text(json.dumps(compact, indent=2), encoding="utf-8")
    return compact


def _markdown_to_html(text: str) -> str:
    """Just enough markdown (headings, paragraphs, pipe tables) for the report; images are added separately."""
    out, table = [], []

    def flush() -> None:
        if table:
            rows = [r for r in table if not re.fullmatch(r"\|(---\|)+", r)]
            cells = [[html.escape(c.strip().replace("\\|", "|")) for c in re.split(r"(?<!\\)\|", r.strip()[1:-1])] for r in rows]
            out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in cells[0]) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in cells[1:]) + "</table>")
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("!["):
            continue
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    flush()
    return "\n".join(out)
