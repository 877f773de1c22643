#!/usr/bin/env python3
"""Renders side-by-side.sh's results.tsv as a Markdown table with ratios.

usage: side_by_side_table.py results.tsv facts.txt PROXY...

Each cell is the median of the repetitions (all of them in brackets when
there are several); the ratio columns divide imapfront's median by the
other proxy's. Lower is better for CPU, latency and memory rows.
"""
import statistics
import sys

ROWS = [
    # (scenario, key, label, lower_is_better)
    ("bulk1", "proxy_cpu_s_per_gb", "bulk APPEND c=1: proxy CPU s/GB", True),
    ("bulk1", "mbps", "bulk APPEND c=1: MB/s", False),
    ("bulk4", "proxy_cpu_s_per_gb", "bulk APPEND c=4: proxy CPU s/GB", True),
    ("bulk4", "mbps", "bulk APPEND c=4: MB/s", False),
    ("small", "proxy_cpu_us_per_cmd", "NOOP c=50: proxy CPU us/command", True),
    ("small", "cmds_per_s", "NOOP c=50: commands/s", False),
    ("small1", "p50_us", "NOOP c=1: p50 us (unloaded round trip)", True),
    ("hs1", "sess_p50_us", "new session c=1: p50 us", True),
    ("hs-ecdsa", "proxy_cpu_us_per_hs", "new session ECDSA P-256 c=128: proxy CPU us/session", True),
    ("hs-ecdsa", "hs_per_s", "new session ECDSA P-256 c=128: sessions/s", False),
    ("hs-rsa", "proxy_cpu_us_per_hs", "new session RSA-2048 c=128: proxy CPU us/session", True),
    ("hs-rsa", "hs_per_s", "new session RSA-2048 c=128: sessions/s", False),
    ("idle", "rss_kb_per_conn", "idle TLS session: proxy RSS KiB each", True),
]


def parse(path):
    runs = {}
    for line in open(path, encoding="utf-8"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 4:
            continue
        workers, proxy, scenario, result = parts[:4]
        values = dict(kv.split("=", 1) for kv in result.split()[1:] if "=" in kv)
        runs.setdefault((workers, proxy, scenario), []).append(values)
    return runs


def number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value else None  # NaN: no figure


def cell(values):
    if not values:
        return "-", None
    med = statistics.median(values)
    fmt = (lambda v: f"{v:.0f}") if med >= 100 else (lambda v: f"{v:.2f}")
    text = fmt(med)
    if len(values) > 1:
        text += " (" + " / ".join(fmt(v) for v in values) + ")"
    return text, med


def main():
    tsv, facts, proxies = sys.argv[1], sys.argv[2], sys.argv[3:]
    runs = parse(tsv)
    others = [p for p in proxies if p != "imapfront"]
    print("# imapfront side by side\n")
    print("```")
    print(open(facts, encoding="utf-8").read().rstrip())
    print("```\n")
    header = ["W", "metric"] + proxies + [f"imapfront / {o}" for o in others]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * 2 + "---:|" * (len(header) - 2))
    for workers in sorted({k[0] for k in runs}):
        for scenario, key, label, _lower in ROWS:
            medians = {}
            cells = []
            failed = False
            for p in proxies:
                entries = runs.get((workers, p, scenario), [])
                failed |= any(e.get("failed", "0") not in ("0", "") or e.get("missing")
                              for e in entries)
                values = [v for v in (number(e.get(key)) for e in entries) if v is not None]
                text, medians[p] = cell(values)
                cells.append(text)
            if all(m is None for m in medians.values()):
                continue
            ratios = []
            for o in others:
                a, b = medians.get("imapfront"), medians.get(o)
                ratios.append(f"{a / b:.2f}x" if a is not None and b else "-")
            mark = " (!)" if failed else ""
            print(f"| {workers} | {label}{mark} | " + " | ".join(cells + ratios) + " |")
    print("\n(!) = a run of that row reported failed sessions; see results.tsv.")


if __name__ == "__main__":
    main()
