#!/usr/bin/env python3
"""Joins nnuc's Google Benchmark JSON with a peer's JSON (bench/baselines/*.py) by benchmark name and
prints a Markdown table: time per iteration of each, the speed ratio (peer time / nnuc time: above 1
means nnuc is faster) and nnuc's rate counters.

  python3 bench/compare.py --ours nnuc.json --peer torch.json [--out table.md]
"""
import argparse
import json
import sys


def load_ours(path):
    with open(path) as f:
        data = json.load(f)
    rows = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type") == "aggregate" or b.get("error_occurred"):
            continue
        scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b.get("time_unit", "ns")]
        rows[b["name"].split("/manual_time")[0].split("/real_time")[0].split("/iterations:")[0]] = {
            "ms": b["real_time"] * scale,
            "flops": b.get("FLOP/s"),
            "bytes": b.get("bytes/s"),
        }
    return rows, data.get("context", {})


def load_peer(path):
    with open(path) as f:
        data = json.load(f)
    return {r["name"]: r for r in data["results"]}, data.get("context", {})


def rate(row):
    if row.get("flops"):
        return f"{row['flops'] / 1e12:.2f} TFLOP/s" if row["flops"] > 1e12 else f"{row['flops'] / 1e9:.1f} GFLOP/s"
    if row.get("bytes"):
        return f"{row['bytes'] / 2**30:.1f} GiB/s"
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--out")
    args = ap.parse_args()
    ours, our_context = load_ours(args.ours)
    peer, peer_context = load_peer(args.peer)
    lines = [f"# nnuc vs {peer_context.get('peer', 'peer')}",
             "",
             f"device: {peer_context.get('device', '?')}; date: {our_context.get('date', '?')}; "
             f"nnuc host: {our_context.get('host_name', '?')}, {our_context.get('num_cpus', '?')} CPUs; "
             f"peer: {peer_context.get('version', '?')}, threads {peer_context.get('threads', '?')}",
             "",
             "| benchmark | nnuc ms | peer ms | peer/nnuc | nnuc rate |",
             "|---|---:|---:|---:|---|"]
    matched = 0
    for name in sorted(set(ours) | set(peer)):
        o, p = ours.get(name), peer.get(name)
        if o and p:
            matched += 1
            lines.append(f"| {name} | {o['ms']:.3f} | {p['ms']:.3f} | {p['ms'] / o['ms']:.2f} | {rate(o)} |")
        elif o:
            lines.append(f"| {name} | {o['ms']:.3f} | — | — | {rate(o)} |")
        else:
            lines.append(f"| {name} | — | {p['ms']:.3f} | — | |")
    lines.append("")
    lines.append(f"{matched} benchmarks measured by both.")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
