#!/usr/bin/env python3
"""Folds `perf script` output into one line per distinct stack and draws it as an SVG flame graph.

    perf script -i perf.data | python3 benchmarks/flamegraph.py --title "scenario 1" --folded out.folded > out.svg
    python3 benchmarks/flamegraph.py --top 25 < out.folded      # the heaviest frames, inclusive, as text
    python3 benchmarks/flamegraph.py --origins < out.folded     # share of samples by origin (kernel, SQLite, ...)

Our own small renderer (no FlameGraph checkout on this machine): frames are boxes whose width is the share of
samples in which the frame is on the stack, drawn as an icicle (the thread at the top, callees below their callers); colour tells the code's origin by the
library perf found it in (kernel [k], OpenSSL and SoftHSM [hsm], SQLite, libc, the .NET runtime [clr], JIT'd .NET). The .NET frames need the runtime's perf map
(DOTNET_PerfMapEnabled=1; with DOTNET_EnableWriteXorExecute=0 perf can attribute JIT'd code to it).
"""
import argparse
import html
import re
import sys
from collections import defaultdict


def fold(lines):
    """perf script blocks (header line, then one frame per line, innermost first) -> {stack: samples}."""
    stacks = defaultdict(int)
    frames = []
    header = None
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if header is not None:
                stacks[";".join([header] + list(reversed(frames)))] += 1
            header, frames = None, []
            continue
        if header is None:
            # "comm pid/tid cpu time: period event:" -> the thread's name, digits squashed (".NET TP Worker").
            header = re.sub(r"\s+\d+(/\d+)?\s.*$", "", line.strip()) or "?"
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        dso = re.search(r"\(([^)]*)\)$", parts[1])
        dso = dso.group(1).rsplit("/", 1)[-1] if dso else ""
        symbol = re.sub(r"\s+\([^)]*\)$", "", parts[1])
        symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
        if symbol == "[unknown]" and dso and dso != "unknown":
            symbol = "[" + dso + "]"
        symbol = shorten(symbol) + tag(dso)
        frames.append(symbol)
    if header is not None:
        stacks[";".join([header] + list(reversed(frames)))] += 1
    return stacks


def tag(dso):
    """Where a native frame's code lives, as a suffix the colours and --origins read (JIT'd .NET frames get none)."""
    if "kallsyms" in dso or dso.startswith("[kernel"):
        return " [k]"
    if "libcrypto" in dso or "softhsm" in dso or "libssl" in dso:
        return " [hsm]"
    if "sqlite" in dso:
        return " [sqlite]"
    if dso.startswith("libc.so") or dso.startswith("ld-linux") or "libstdc++" in dso or dso == "[vdso]":
        return " [libc]"
    if "libcoreclr" in dso or "libclrjit" in dso or "System." in dso or "libSystem" in dso:
        return " [clr]"
    return ""


def shorten(symbol):
    """A perf-map .NET signature without its parameter list, generic arity and tier tag: Namespace.Type::Method."""
    symbol = re.sub(r"\[(OptimizedTier1|Optimized|Tier0|Tier1|QuickJitted|PreJIT|Instrumented)[^\]]*\]$", "", symbol)
    symbol = re.sub(r"^(instance |static )?\S+ \[[^\]]+\] ", "", symbol)
    symbol = re.sub(r"\(.*\)$", "", symbol)
    return symbol.replace(";", ",")


def colour(name):
    if name.endswith(" [k]"):
        return "#e8a33d"
    if name.endswith(" [hsm]"):
        return "#d65f5f"
    if name.endswith(" [sqlite]"):
        return "#6f8fd8"
    if name.endswith(" [libc]"):
        return "#c9b26b"
    if name.endswith(" [clr]"):
        return "#b89bd1"
    if "DTrust" in name:
        return "#5fa55a"
    return "#7fbf7b"


def tree(stacks):
    root = {"name": "all", "value": 0, "children": {}}
    for stack, count in stacks.items():
        node = root
        node["value"] += count
        for frame in stack.split(";"):
            node = node["children"].setdefault(frame, {"name": frame, "value": 0, "children": {}})
            node["value"] += count
    return root


def svg(stacks, title, width=1200, row=16):
    root = tree(stacks)
    total = max(root["value"], 1)
    boxes = []

    def walk(node, x, depth):
        boxes.append((x, depth, node))
        cx = x
        for child in sorted(node["children"].values(), key=lambda n: n["name"]):
            walk(child, cx, depth + 1)
            cx += child["value"]

    walk(root, 0, 0)
    depth = max(d for _, d, _ in boxes) + 1
    height = depth * row + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">',
           f'<rect width="100%" height="100%" fill="#fdfdf8"/>',
           f'<text x="6" y="16" font-size="13">{html.escape(title)} ({total} samples; width = share of samples on the stack)</text>']
    for x, d, node in boxes:
        w = node["value"] / total * (width - 12)
        if w < 0.4:
            continue
        px = 6 + x / total * (width - 12)
        py = 24 + d * row
        name = node["name"]
        share = 100.0 * node["value"] / total
        label = name if len(name) * 6.6 < w else (name[: max(0, int(w / 6.6) - 2)] + ".." if w > 20 else "")
        out.append(f'<g><title>{html.escape(name)} — {node["value"]} samples, {share:.2f} %</title>'
                   f'<rect x="{px:.1f}" y="{py}" width="{w:.1f}" height="{row - 1}" fill="{colour(name)}" rx="1"/>'
                   f'<text x="{px + 2:.1f}" y="{py + row - 4}">{html.escape(label)}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def top(stacks, n):
    """Inclusive samples per frame (counted once per stack), heaviest first."""
    inclusive = defaultdict(int)
    total = sum(stacks.values())
    for stack, count in stacks.items():
        for frame in set(stack.split(";")[1:]):
            inclusive[frame] += count
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:n]:
        print(f"{100.0 * count / total:6.2f} %  {frame}")


ORIGINS = {"#e8a33d": "kernel", "#5fa55a": "DTrust (JIT'd)", "#7fbf7b": ".NET libraries (JIT'd), unresolved",
           "#6f8fd8": "SQLite", "#d65f5f": "OpenSSL + SoftHSM", "#c9b26b": "libc (malloc, locks, memcpy)",
           "#b89bd1": ".NET runtime native (GC, JIT, stubs)"}


def origins(stacks):
    """Share of samples by the origin of the innermost frame (where the CPU was), as a markdown table."""
    shares = defaultdict(int)
    total = sum(stacks.values())
    for stack, count in stacks.items():
        shares[ORIGINS[colour(stack.split(";")[-1])]] += count
    print("| where the CPU was (innermost frame) | share of samples |")
    print("| --- | --- |")
    for name, count in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {100.0 * count / total:.1f} % |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--title", default="flame graph")
    parser.add_argument("--folded", help="also write the folded stacks here")
    parser.add_argument("--top", type=int, help="print the N heaviest frames instead of an SVG")
    parser.add_argument("--origins", action="store_true", help="print the share of samples by origin instead of an SVG")
    args = parser.parse_args()
    data = sys.stdin.read().splitlines()
    if data and ";" in data[0] and re.search(r" \d+$", data[0]):
        stacks = {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in data if line.strip()}
    else:
        stacks = fold(data)
    if args.folded:
        with open(args.folded, "w") as f:
            for stack, count in sorted(stacks.items()):
                f.write(f"{stack} {count}\n")
    if args.origins:
        origins(stacks)
    elif args.top:
        top(stacks, args.top)
    else:
        sys.stdout.write(svg(stacks, args.title))


if __name__ == "__main__":
    main()
