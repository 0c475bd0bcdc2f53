"""report.py - medians, ratios, the table, the JSON summary and the chart.

Ratios are always "how many times better than the reference", so 1.0 is
parity and > 1 is better, whatever the metric's direction (MB/s up, seconds
down): a reader never has to remember which way a column points.
"""
import os
import statistics
import subprocess

from workloads import METRICS


def direction(metric):
    if metric in METRICS:
        return METRICS[metric][1]
    return False  # daemon CPU seconds and memory: lower is better


def unit(metric):
    if metric in METRICS:
        return METRICS[metric][0]
    return "s" if metric.endswith("cpu_s") else "MiB"


def summarize(results):
    out = {}
    for peer, metrics in results.items():
        for m, vals in metrics.items():
            out.setdefault(m, {})[peer] = {
                "median": statistics.median(vals), "min": min(vals),
                "max": max(vals), "n": len(vals)}
    for m, per in out.items():
        up = direction(m)
        meds = {p: v["median"] for p, v in per.items()}
        for p, v in per.items():
            v["vs_plain"] = _ratio(v["median"], meds.get("plain"), up)
            others = [x for q, x in meds.items() if q not in (p, "plain")]
            best = (max(others) if up else min(others)) if others else None
            v["vs_best_peer"] = _ratio(v["median"], best, up)
    return out


def _ratio(v, ref, higher_better):
    if ref is None or v is None:
        return None
    if higher_better:
        return v / ref if ref else None
    return ref / v if v else None


def _fmt(x):
    if x is None:
        return "-"
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 1:
        return "%.2f" % x
    return "%.3f" % x


def table(summary, peers):
    head = "%-30s %-7s" % ("metric", "unit") + "".join(
        " %26s" % p for p in peers)
    lines = [head, "-" * len(head)]
    for m in sorted(summary, key=lambda k: (("." in k), k)):
        row = "%-30s %-7s" % (m, unit(m))
        for p in peers:
            v = summary[m].get(p)
            if not v:
                row += " %26s" % "-"
                continue
            cell = "%s [%s-%s]" % (_fmt(v["median"]), _fmt(v["min"]),
                                   _fmt(v["max"]))
            if p != "plain" and v["vs_plain"] is not None:
                cell += " %sx" % _fmt(v["vs_plain"])
            row += " %26s" % cell
        lines.append(row)
    lines.append("")
    lines.append("cells: median [min-max] and, after it, the ratio to the "
                 "plain directory (>1 = better than plain).")
    lines.append("vs_best_peer ratios are in results.json.")
    return "\n".join(lines)


def chart(summary, peers, outdir):
    """Bar chart of ratios to the plain directory; None without gnuplot."""
    metrics = [m for m in sorted(summary) if "." not in m
               and "plain" in summary[m]]
    # Only peers with a ratio to chart: the replicators have none (their
    # workload has no plain directory), and gnuplot fails on a column
    # that is all NaN.
    others = [p for p in peers if p != "plain" and any(
        summary[m].get(p, {}).get("vs_plain") for m in metrics)]
    if not others or not metrics:
        return None
    dat = os.path.join(outdir, "ratios.dat")
    with open(dat, "w") as f:
        f.write("metric " + " ".join(others) + "\n")
        for m in metrics:
            vals = [summary[m].get(p, {}).get("vs_plain") for p in others]
            f.write(m + " " + " ".join("%.4f" % v if v else "NaN"
                                       for v in vals) + "\n")
    png = os.path.join(outdir, "ratios.png")
    plot = ", ".join("'%s' using %d:xtic(1) title '%s'" % (dat, i + 2, p)
                     for i, p in enumerate(others))
    script = ("set terminal png size 1400,700 noenhanced; set output '%s';"
              "set style data histograms; set style fill solid 0.8;"
              "set logscale y; set xtics rotate by -40; set key top left;"
              "set ylabel 'ratio to plain directory (log, >1 = better)';"
              "set grid ytics; plot %s, 1 notitle lc rgb 'black'"
              % (png, plot))
    try:
        subprocess.run(["gnuplot", "-e", script], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        if os.path.exists(png):
            os.unlink(png)  # gnuplot leaves an empty file behind
        return None
    return png
