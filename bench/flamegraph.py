#!/usr/bin/env python3
"""A flame graph (SVG) from `perf script` output on standard input, without anything to install:
stacks are folded (root first, Rust hashes and offsets dropped, frames below MIN_SHARE of the
samples merged into their parent) and drawn as nested boxes, widths proportional to samples;
hovering a box shows its name and share. Usage:

    perf script -i perf.data | bench/flamegraph.py --title "me, metrics on" > out.svg
"""

import argparse
import html
import re
import sys
import zlib
from collections import defaultdict

HASH = re.compile(r"::h[0-9a-f]{16}$")
FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.+?)\s+\((.*)\)\s*$")


def frames_of(lines):
    """Each sample's frames (leaf first) from perf script's text."""
    sample = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if sample:
                yield sample
            sample = []
            continue
        m = FRAME.match(line)
        if not m:
            continue  # the sample's header line (comm, pid, time, event)
        sym, dso = m.group(1), m.group(2)
        if sym == "[unknown]":
            sym = "[" + dso.rsplit("/", 1)[-1] + "]"
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        sym = HASH.sub("", sym)
        sample.append(sym)
    if sample:
        yield sample


def build(samples):
    root = {"n": 0, "c": {}}
    for frames in samples:
        node = root
        node["n"] += 1
        for f in reversed(frames):
            node = node["c"].setdefault(f, {"n": 0, "c": {}})
            node["n"] += 1
    return root


def color(name):
    h = zlib.crc32(name.encode())
    if name.startswith("[") or "kernel" in name:
        return f"rgb({200 + h % 55},{100 + h % 60},{90 + h % 40})"
    return f"rgb({225 + h % 30},{110 + (h >> 8) % 110},{40 + (h >> 16) % 40})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--title", default="flame graph")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--min-share", type=float, default=0.004, help="smallest box drawn, as a share of all samples")
    a = ap.parse_args()
    root = build(frames_of(sys.stdin))
    total = root["n"] or 1
    row, top = 16, 40
    boxes = []

    def walk(node, name, x, depth):
        w = node["n"] / total
        if w < a.min_share:
            return
        boxes.append((name, x, depth, w, node["n"]))
        cx = x
        for child_name, child in sorted(node["c"].items()):
            walk(child, child_name, cx, depth + 1)
            cx += child["n"] / total

    walk(root, "all", 0.0, 0)
    depth = max(b[2] for b in boxes) + 1
    height = top + depth * row + 10
    W = a.width - 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{a.width}" height="{height}" font-family="monospace" font-size="11">',
        f'<rect width="100%" height="100%" fill="#f8f8f0"/>',
        f'<text x="10" y="20" font-size="14">{html.escape(a.title)} ({total} samples)</text>',
    ]
    for name, x, d, w, n in boxes:
        px, py, pw = 10 + x * W, height - 10 - (d + 1) * row, w * W
        label = html.escape(name)
        tip = f"{label} ({n} samples, {100 * n / total:.1f}%)"
        chars = int(pw / 7)
        text = label if len(name) <= chars else html.escape(name[: max(chars - 2, 0)] + "..") if chars > 3 else ""
        out.append(
            f'<g><title>{tip}</title><rect x="{px:.1f}" y="{py}" width="{pw:.1f}" height="{row - 1}" fill="{color(name)}"/>'
            + (f'<text x="{px + 2:.1f}" y="{py + 11}">{text}</text>' if text else "")
            + "</g>"
        )
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
