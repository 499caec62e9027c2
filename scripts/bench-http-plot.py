#!/usr/bin/python3
"""Plot and tabulate bench/http/summary.csv (written by the bench_http example).

Usage: bench-http-plot.py SUMMARY_CSV PNG
Writes the PNG and prints the Markdown table of BENCHMARKS.md to stdout. Each loaded
point is compared with its paired baseline: the same lab, measured with no rules just
before the addresses were loaded; the ratio is the median over rounds of each round's
ratio of medians.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRICS = [("connect", "connect"), ("first_byte", "first byte"), ("complete", "complete")]
LABELS = {
    "rules": "N linear iptables rules (iptables-nft)",
    "ipset": "one ipset (hash:ip) + one -m set rule",
    "nft": "one nft set in table inet rampart",
}
COLORS = {"rules": "tab:red", "ipset": "tab:blue", "nft": "tab:green"}
# The two set variants lie on top of each other: different markers and dashes keep both
# visible.
STYLE = {"rules": ("o", "-"), "ipset": ("s", "--"), "nft": ("^", "-")}


def load(path):
    points = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            key = (row["variant"], int(row["n"]))
            points.setdefault(key, {"load_s": float(row["max_load_s"])})[row["phase"]] = row
    return points


def us(row, metric, stat):
    return float(row[f"{metric}_{stat}_us"])


def fmt_n(n):
    return {0: "0", 1000: "1k", 10_000: "10k", 50_000: "50k", 1_000_000: "1M"}.get(n, f"{n:,}")


def table(points):
    print("| N | blocked as | load | connect median / p99 | first byte median / p99 "
          "| complete median / p99 | complete vs no rules: median of rounds (range) |")
    print("|---|---|---|---|---|---|---|")
    order = {"none": 0, "rules": 1, "ipset": 2, "nft": 3}
    for (variant, n), p in sorted(points.items(), key=lambda kv: (kv[0][1], order[kv[0][0]])):
        row = p["loaded"]
        cells = []
        for metric, _ in METRICS:
            cells.append(f"{us(row, metric, 'median'):.0f} / {us(row, metric, 'p99'):.0f} µs")
        ratio = f"{float(row['ratio_median']):.2f}× ({float(row['ratio_min']):.2f}–{float(row['ratio_max']):.2f})"
        name = "no rules" if variant == "none" else LABELS[variant]
        if n == 0 and variant != "none":
            name = name.replace("one ipset", "one EMPTY ipset").replace("one nft set", "one EMPTY nft set")
        load_s = "—" if variant == "none" else f"{p['load_s']:.2f} s"
        print(f"| {fmt_n(n)} | {name} | {load_s} | " + " | ".join(cells) + f" | {ratio} |")


def plot(points, png):
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), sharey=False)
    none = points.get(("none", 0))
    for ax, (metric, title) in zip(axes, METRICS):
        for variant in ["rules", "ipset", "nft"]:
            ns = sorted(n for (v, n) in points if v == variant and n > 0)
            if not ns:
                continue
            med = [us(points[(variant, n)]["loaded"], metric, "median") for n in ns]
            p99 = [us(points[(variant, n)]["loaded"], metric, "p99") for n in ns]
            marker, dash = STYLE[variant]
            ax.plot(ns, med, marker=marker, linestyle=dash, color=COLORS[variant],
                    markersize=7, label=LABELS[variant] + ": median")
            ax.plot(ns, p99, marker=marker, linestyle=":", color=COLORS[variant], alpha=0.35,
                    markersize=4, label="same: p99")
        if none:
            base = us(none["loaded"], metric, "median")
            ax.axhline(base, color="black", linestyle="--", linewidth=1,
                       label="no rules at all: median")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("blocked addresses N")
        ax.set_ylabel("µs from connect() (log)")
        ax.set_title(f"{title}")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle("Sequential HTTP GET of a 10 KiB file across a veth, N blocked source "
                 "addresses on the server's INPUT hook (none of them the client)")
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    fig.savefig(png, dpi=110)


def main():
    points = load(sys.argv[1])
    plot(points, sys.argv[2])
    table(points)


if __name__ == "__main__":
    main()
