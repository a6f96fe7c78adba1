"""A two-panel grouped bar chart (requests/s and p99 latency per load, etcd vs oxcd) written
as SVG by hand. Python 3 standard library only; used by report.py."""

import math
from xml.sax.saxutils import escape

COLORS = {"etcd": "#419EDA", "oxcd": "#D9622B"}
FONT = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
TEXT = "#222222"
MUTED = "#666666"
GRID = "#E3E3E3"

WIDTH = 1000
LEFT = 84
RIGHT = 24
PANEL_H = 250  # plot area height
HEADER_H = 104
PANEL_GAP = 96  # room under a plot for the load names and the ratio line


def nice_ticks(vmax, target=5):
    """0..top with a 1/2/2.5/5 x 10^k step; returns (top, step)."""
    if vmax is None or vmax <= 0:
        return 1.0, 0.2
    raw = vmax / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        step = m * mag
        if step >= raw:
            break
    top = step * math.ceil(vmax * 1.12 / step)  # headroom for the value labels
    return top, step


def compact(x):
    if x is None:
        return "n/a"
    if x >= 1e6:
        return "%.2fM" % (x / 1e6)
    if x >= 1e4:
        return "%.1fk" % (x / 1e3)
    if x >= 1e3:
        return "%.2fk" % (x / 1e3)
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.2f" % x


def tick_label(v, step):
    if step >= 1000 and v % 1000 == 0:
        return "%gk" % (v / 1000)
    if step >= 1:
        return "%g" % v
    return ("%.3f" % v).rstrip("0").rstrip(".")


def _text(x, y, s, size=12, anchor="middle", color=TEXT, weight="normal", extra=""):
    return ('<text x="%.1f" y="%.1f" font-size="%s" text-anchor="%s" fill="%s" '
            'font-weight="%s"%s>%s</text>' % (x, y, size, anchor, color, weight, extra,
                                              escape(str(s))))


def _panel(out, top, rows, labels, key, title, unit_fmt, ratio_word):
    x0, x1 = LEFT, WIDTH - RIGHT
    y0, y1 = top, top + PANEL_H
    vals = []
    for r in rows:
        for s in ("etcd", "oxcd"):
            for k in (key, key + "_max"):
                v = r[s].get(k)
                if v is not None:
                    vals.append(v)
    vmax = max(vals) if vals else 0
    ymax, step = nice_ticks(vmax)

    def y_of(v):
        return y1 - (v / ymax) * (y1 - y0)

    # grid and y ticks
    n_ticks = int(round(ymax / step))
    for i in range(n_ticks + 1):
        v = i * step
        y = y_of(v)
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>'
                   % (x0, y, x1, y, GRID if i else "#999999"))
        out.append(_text(x0 - 8, y + 4, tick_label(v, step), size=11, anchor="end", color=MUTED))
    # y axis title, rotated
    cy = (y0 + y1) / 2
    out.append(_text(20, cy, title, size=13, weight="bold",
                     extra=' transform="rotate(-90 20 %.1f)"' % cy))
    out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999999"/>'
               % (x0, y0, x0, y1))

    n = max(1, len(rows))
    gw = (x1 - x0) / n
    bw = min(64.0, gw * 0.34)
    for i, r in enumerate(rows):
        cx = x0 + gw * (i + 0.5)
        for j, s in enumerate(("etcd", "oxcd")):
            bx = cx - bw - 3 + j * (bw + 6)
            v = r[s].get(key)
            mid = bx + bw / 2
            if v is None:
                out.append(_text(mid, y1 - 6, "n/a", size=11, color=MUTED))
                continue
            yb = y_of(v)
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">'
                       '<title>%s %s: %s</title></rect>'
                       % (bx, yb, bw, max(0.0, y1 - yb), COLORS[s], escape(labels[s]),
                          escape(r["load"]), escape(unit_fmt(v))))
            lo, hi = r[s].get(key + "_min"), r[s].get(key + "_max")
            label_y = yb
            if lo is not None and hi is not None and hi > lo:
                ylo, yhi = y_of(lo), y_of(hi)
                out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333333" '
                           'stroke-width="1.2"/>' % (mid, ylo, mid, yhi))
                for yy in (ylo, yhi):
                    out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333333" '
                               'stroke-width="1.2"/>' % (mid - 5, yy, mid + 5, yy))
                label_y = min(yb, yhi)
            out.append(_text(mid, label_y - 5, unit_fmt(v), size=11, weight="bold"))
        # load name and ratio under the group
        out.append(_text(cx, y1 + 18, r["load"], size=12, weight="bold"))
        ratio = r.get(ratio_word)
        rtxt = "%s/%s = %s" % (labels["oxcd"], labels["etcd"],
                               "n/a" if ratio is None else "%.2f×" % ratio)
        out.append(_text(cx, y1 + 34, rtxt, size=11, color=MUTED))


def chart(rows, labels, subtitle=""):
    height = HEADER_H + 2 * (PANEL_H + PANEL_GAP) - 20
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="%s">' % (WIDTH, height, WIDTH, height, FONT),
           '<rect width="100%" height="100%" fill="white"/>']
    out.append(_text(WIDTH / 2, 28, "%s vs %s: throughput and p99 latency per load"
                     % (labels["oxcd"], labels["etcd"]), size=18, weight="bold"))
    if subtitle:
        out.append(_text(WIDTH / 2, 50, subtitle, size=11, color=MUTED))
    # legend
    lx = WIDTH / 2 - 110
    for j, s in enumerate(("etcd", "oxcd")):
        x = lx + j * 130
        out.append('<rect x="%.1f" y="64" width="16" height="16" fill="%s"/>' % (x, COLORS[s]))
        out.append(_text(x + 22, 77, labels[s], size=13, anchor="start"))
    out.append(_text(lx + 260, 77, "I = min–max", size=11, anchor="start", color=MUTED))

    top1 = HEADER_H
    _panel(out, top1, rows, labels, "rps", "requests/s (median, higher is better)", compact,
           "rps_ratio")
    top2 = top1 + PANEL_H + PANEL_GAP
    _panel(out, top2, rows, labels, "p99", "p99 latency, ms (median, lower is better)",
           compact, "p99_ratio")
    out.append("</svg>")
    return "\n".join(out) + "\n"
