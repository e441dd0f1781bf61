"""Draws docs/dashboard.png: the main panels of the chart's Grafana dashboard
(charts/consul-peering-operator/dashboards/consul-peering-operator.json) over a playground run.

The samples come from the observability test, which runs the playground's flow (both operators, the example
acceptor with delivery and dialer), breaks the peering's stream, lets it recover, rotates the token and deletes the
dialer, scraping both operators' /metrics every 250 ms:

    OBSERVABILITY_SAMPLES=target/observability-samples.json \\
        cargo test --test observability the_alerts_follow_a_playground_peering
    python3 -m venv target/plot && target/plot/bin/pip install matplotlib
    target/plot/bin/python docs/dashboard/render.py target/observability-samples.json docs/dashboard.png

Each panel computes what its dashboard query computes, from the raw samples: sums by label, per-second rates and
increases between scrapes, time since the last ACTIVE.
"""

import json
import re
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

PREFIX = "consul_peering_operator_"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
STATE_COLOURS = {
    "ACTIVE": "#73bf69", "PENDING": "#8ab8ff", "ESTABLISHING": "#5794f2", "FAILING": "#f2495c",
    "TERMINATED": "#ff9830", "DELETING": "#b877d9", "UNDEFINED": "#808080",
}


def parse(text):
    """Samples of one scrape: {(name, frozenset(labels)): value}."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def series(scrapes, name, dc=None):
    """{labels: [(t, value)]} of one metric over the run."""
    out = defaultdict(list)
    for s in scrapes:
        if dc and s["dc"] != dc:
            continue
        for (n, labels), v in s["samples"].items():
            if n == PREFIX + name:
                out[(s["dc"],) + tuple(sorted(labels))].append((s["at"], v))
    return out


def rates(points, per_second=True):
    """Change between consecutive scrapes (counter resets count from 0; a series' first sample counts from 0 at
    the scrape before, as it was created by the event it counts)."""
    out = [(points[0][0], points[0][1] if not per_second else 0.0)] if points else []
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        d = v1 - v0 if v1 >= v0 else v1
        out.append((t1, d / (t1 - t0) if per_second else d))
    return out


def label(key, *names):
    labels = dict(key[1:])
    return " ".join(labels.get(n, "") for n in names).strip()


def style(ax, title, marks, unit=""):
    ax.set_title(title, loc="left", fontsize=10, color="#d8d9da")
    ax.set_facecolor("#181b1f")
    ax.tick_params(colors="#9fa7b3", labelsize=7)
    for spine in ax.spines.values():
        spine.set_color("#2c3235")
    ax.grid(color="#2c3235", linewidth=0.6)
    ax.set_xlabel("seconds into the run", fontsize=7, color="#9fa7b3")
    if unit:
        ax.set_ylabel(unit, fontsize=7, color="#9fa7b3")
    for m in marks:
        ax.axvline(m["at"], color="#5a6068", linestyle=":", linewidth=0.8)
    if not ax.get_legend_handles_labels()[0]:
        return
    legend = ax.legend(fontsize=6, loc="upper left", facecolor="#181b1f", edgecolor="#2c3235")
    if legend:
        for text in legend.get_texts():
            text.set_color("#d8d9da")


def peerings_by_state(ax, scrapes, marks):
    """sum by (state): each operator's newest scrape counts until its next one."""
    last = {}
    points = defaultdict(list)
    for s in scrapes:
        counts = defaultdict(float)
        for (n, labels), v in s["samples"].items():
            if n == PREFIX + "peering_state":
                counts[dict(labels)["state"]] += v
        last[s["dc"]] = counts
        for state in STATE_COLOURS:
            points[state].append((s["at"], sum(c.get(state, 0.0) for c in last.values())))
    for state in ["ACTIVE", "ESTABLISHING", "PENDING", "FAILING", "TERMINATED"]:
        pts = points[state]
        if any(v for _, v in pts):
            ax.step([t for t, _ in pts], [v for _, v in pts], where="post", label=state,
                    color=STATE_COLOURS[state], linewidth=1.4)
    style(ax, "Peerings by state (dc1 + dc2)", marks)


def state_timeline(ax, scrapes, marks):
    rows = {}
    for key, pts in series(scrapes, "peering_state").items():
        if label(key, "state") and any(v for _, v in pts):
            resource = f"{key[0]}: {label(key, 'kind')} {label(key, 'namespace')}/{label(key, 'name')}"
            rows.setdefault(resource, []).append((label(key, "state"), pts))
    names = sorted(rows)
    for y, resource in enumerate(names):
        for state, pts in rows[resource]:
            for (t0, v), (t1, _) in zip(pts, pts[1:]):
                if v:
                    ax.barh(y, t1 - t0, left=t0, color=STATE_COLOURS.get(state, "#808080"), height=0.6)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=7, color="#d8d9da")
    style(ax, "Peering state per resource", marks)
    handles = [Patch(color=STATE_COLOURS[s], label=s) for s in ["PENDING", "ACTIVE", "FAILING", "TERMINATED"]]
    legend = ax.legend(handles=handles, fontsize=6, loc="upper right", facecolor="#181b1f", edgecolor="#2c3235")
    for text in legend.get_texts():
        text.set_color("#d8d9da")


def wall_clock(scrapes):
    """Unix time of each scrape: recorded, or (older sample files) the run's offset, learnt from an ACTIVE
    resource, whose last-ACTIVE time is the scrape's time."""
    if all("wall" in s for s in scrapes):
        return {id(s): s["wall"] for s in scrapes}
    offsets = [max(v for (n, _), v in s["samples"].items() if n == PREFIX + "peering_last_active_timestamp_seconds")
               - s["at"] for s in scrapes
               if any(n == PREFIX + "peering_last_active_timestamp_seconds" for n, _ in s["samples"])]
    offset = sorted(offsets)[-1] if offsets else 0.0
    return {id(s): s["at"] + offset for s in scrapes}


def since_active(ax, scrapes, marks):
    """time() - peering_last_active_timestamp_seconds."""
    wall = wall_clock(scrapes)
    lines = defaultdict(list)
    for s in scrapes:
        for (n, labels), v in s["samples"].items():
            if n == PREFIX + "peering_last_active_timestamp_seconds":
                labels = dict(labels)
                key = f"{s['dc']}: {labels['kind']} {labels['namespace']}/{labels['name']}"
                lines[key].append((s["at"], max(0.0, wall[id(s)] - v)))
    for key, pts in sorted(lines.items()):
        ax.plot([t for t, _ in pts], [v for _, v in pts], label=key, linewidth=1.4)
    style(ax, "Time since last ACTIVE", marks, "s")


def tokens_by_cause(ax, scrapes, marks):
    for key, pts in series(scrapes, "tokens_generated_total").items():
        inc = rates(pts, per_second=False)
        if any(v for _, v in inc):
            ax.bar([t for t, _ in inc], [v for _, v in inc], width=0.3, label=f"{key[0]}: {label(key, 'cause')}")
    for key, pts in series(scrapes, "tokens_delivered_total").items():
        inc = rates(pts, per_second=False)
        if any(v for _, v in inc):
            ax.bar([t + 0.3 for t, _ in inc], [v for _, v in inc], width=0.3, alpha=0.8,
                   label=f"{key[0]}: delivered ({label(key, 'result')})")
    style(ax, "Tokens generated by cause, and delivered", marks, "per scrape")


def reconcile_rate(ax, scrapes, marks):
    for key, pts in series(scrapes, "reconciles_total").items():
        r = smooth(rates(pts))
        ax.plot([t for t, _ in r], [v for _, v in r], label=f"{key[0]}: {label(key, 'controller')}", linewidth=1.2)
    style(ax, "Reconcile rate per controller", marks, "reconciles/s")


def consul_requests(ax, scrapes, marks):
    for key, pts in series(scrapes, "consul_request_duration_seconds_count").items():
        r = smooth(rates(pts))
        if any(v for _, v in r):
            ax.plot([t for t, _ in r], [v for _, v in r], linewidth=1.2,
                    label=f"{key[0]}: {label(key, 'endpoint')} {label(key, 'status')}")
    style(ax, "Consul requests by endpoint and status", marks, "requests/s")


def smooth(points, window=8):
    """A moving average over `window` scrape intervals (Grafana's $__rate_interval does the same job)."""
    out = []
    for i in range(len(points)):
        chunk = points[max(0, i - window + 1): i + 1]
        out.append((points[i][0], sum(v for _, v in chunk) / len(chunk)))
    return out


def main(samples_path, png_path):
    data = json.load(open(samples_path))
    scrapes = [dict(s, samples=parse(s["text"])) for s in data["scrapes"]]
    marks = data["marks"]
    plt.rcParams["font.family"] = "DejaVu Sans"
    fig, axes = plt.subplots(3, 2, figsize=(15, 11), facecolor="#111217")
    peerings_by_state(axes[0][0], scrapes, marks)
    state_timeline(axes[0][1], scrapes, marks)
    since_active(axes[1][0], scrapes, marks)
    tokens_by_cause(axes[1][1], scrapes, marks)
    reconcile_rate(axes[2][0], scrapes, marks)
    consul_requests(axes[2][1], scrapes, marks)
    for m in marks:
        axes[0][0].annotate(m["what"], (m["at"], 1), xycoords=("data", "axes fraction"), rotation=90,
                            fontsize=6, color="#9fa7b3", va="top", ha="right")
    fig.suptitle("Consul peering operator: the dashboard's main panels over a playground run "
                 "(peered, stream broken and back, token rotated, dialer deleted)",
                 color="#d8d9da", fontsize=12, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(png_path, dpi=90, facecolor=fig.get_facecolor())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
