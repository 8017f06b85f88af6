# SPDX-License-Identifier: MIT
"""The chart of scripts/compare, written as SVG with the standard library.

Two sections, each readable on its own:
  * memory per connection (idle scenario, all connections held): one small
    chart per connection count N, each with its own axis, one stacked bar
    per model: user (RSS charged to the connection), kernel objects, kernel
    buffers; the total is printed above each bar;
  * per request (busy scenario): context switches and syscalls, one bar per
    model grouped by N, on a shared axis, values printed.
A model that hit a limit at some N gets a note in place of its bar.
"""

import math
from xml.sax.saxutils import escape

WIDTH = 1000
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"
MEMORY_COLORS = (("user", "user (RSS)", "#e08a2c"),
                 ("kernel_objects", "kernel objects", "#2f5f98"),
                 ("kernel_buffers", "kernel buffers", "#8db5e2"))
MODEL_COLORS = {"threaded": "#c8443f", "epoll": "#2e86ab", "coro": "#5b9a68",
                "uring": "#d9a22b"}
def nice_max(v):
    """An axis end at or above v: 1, 2, 2.5 or 5 times a power of ten."""
    if v <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * p >= v * 1.0001:
            return m * p
    return 10 * p


def fmt_num(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.2f}".rstrip("0").rstrip(".")


def fmt_kib(b):
    return f"{b / 1024:,.0f} KiB" if b >= 100 * 1024 else f"{b / 1024:.1f} KiB"


class Svg:
    def __init__(self):
        self.parts = []

    def text(self, x, y, s, size=12, anchor="start", weight="normal", color="#222"):
        self.parts.append(f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' "
                          f"text-anchor='{anchor}' font-weight='{weight}' fill='{color}'"
                          f">{escape(s)}</text>")

    def rect(self, x, y, w, h, color, title=None):
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' "
                          f"height='{max(h, 0):.1f}' fill='{color}'>{tip}</rect>")

    def line(self, x1, y1, x2, y2, color="#999", width=1):
        self.parts.append(f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' "
                          f"stroke='{color}' stroke-width='{width}'/>")

    def legend(self, x, y, items):
        for label, color in items:
            self.rect(x, y - 10, 12, 12, color)
            self.text(x + 17, y, label, size=12)
            x += 30 + 7.2 * len(label)

    def axis(self, x, y, w, h, top, unit=None):
        """A y axis from 0 to top at the left of a plot area; gridlines across,
        at round steps (top is 1, 2, 2.5 or 5 times a power of ten)."""
        mantissa = round(top / 10 ** math.floor(math.log10(top)), 3)
        ticks = 4 if mantissa == 2 else 5
        for i in range(ticks + 1):
            v = top * i / ticks
            yy = y + h - h * i / ticks
            self.line(x, yy, x + w, yy, "#e3e3e3" if i else "#888")
            self.text(x - 5, yy + 4, fmt_num(v / 1024) if unit == "KiB" else fmt_num(v),
                      size=10, anchor="end", color="#555")
        if unit:
            self.text(x - 5, y - 8, unit, size=10, anchor="end", color="#555")

    def render(self, height):
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
                f"viewBox='0 0 {WIDTH} {height}' {FONT}>\n"
                f"<rect width='100%' height='100%' fill='white'/>\n" +
                "\n".join(self.parts) + "\n</svg>\n")


def memory_panel(svg, x, y, w, h, n, rows, models):
    """One N: a stacked bar per model, its own axis (KiB)."""
    ok = [r for r in rows if r["status"] == "ok"]
    top = nice_max(max((r["total_bytes_per_conn"] for r in ok), default=1024) / 1024) * 1024
    svg.text(x + w / 2, y - 22, f"N = {n:,} connection{'s' if n != 1 else ''}", size=13,
             anchor="middle", weight="bold")
    svg.axis(x, y, w, h, top, unit="KiB")
    slot = w / len(models)
    for i, model in enumerate(models):
        cx = x + slot * (i + 0.5)
        svg.text(cx, y + h + 15, model, size=11, anchor="middle")
        row = next((r for r in rows if r["model"] == model), None)
        if row is None:
            continue
        if row["status"] != "ok":
            svg.text(cx, y + h - 8, row.get("limit", row["status"]), size=10, anchor="middle",
                     color="#a00")
            continue
        parts = {"user": row["user_bytes_per_conn"],
                 "kernel_objects": row["kernel_objects_per_conn"],
                 "kernel_buffers": max(row["kernel_buffers_per_conn"], 0)}
        base = y + h
        bw = min(slot * 0.6, 46)
        for key, label, color in MEMORY_COLORS:
            bh = h * parts[key] / top
            svg.rect(cx - bw / 2, base - bh, bw, bh, color,
                     f"{model}, N={n}: {label} {parts[key]:,.0f} B per connection")
            base -= bh
        svg.text(cx, base - 4, fmt_kib(row["total_bytes_per_conn"]), size=10, anchor="middle")


def per_request_panel(svg, x, y, w, h, title, key, rows, conns, models):
    """Bars per model grouped by N, one shared axis."""
    ok = [r for r in rows if r["status"] == "ok"]
    top = nice_max(max((r[key] for r in ok), default=1))
    svg.text(x + w / 2, y - 22, title, size=13, anchor="middle", weight="bold")
    svg.axis(x, y, w, h, top)
    group = w / len(conns)
    bw = min(group * 0.8 / len(models), 34)
    for g, n in enumerate(conns):
        gx = x + group * g + (group - bw * len(models)) / 2
        svg.text(x + group * (g + 0.5), y + h + 15, f"N = {n:,}", size=11, anchor="middle")
        for i, model in enumerate(models):
            row = next((r for r in rows if r["model"] == model and r["conns"] == n), None)
            bx = gx + bw * i
            if row is None:
                continue
            if row["status"] != "ok":
                svg.text(bx + bw / 2, y + h - 4, row.get("limit", row["status"]), size=9,
                     anchor="middle",
                         color="#a00")
                continue
            bh = h * row[key] / top
            svg.rect(bx + 1, y + h - bh, bw - 2, bh, MODEL_COLORS.get(model, "#777"),
                     f"{model}, N={n}: {row[key]:.3f} {title.lower()}")
            svg.text(bx + bw / 2, y + h - bh - 3, fmt_num(row[key]), size=9, anchor="middle")


def wrap(text, width):
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    return lines + ([cur] if cur else [])


def compare_chart(doc):
    rows = doc["rows"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    conns = sorted({r["conns"] for r in rows})
    idle = [r for r in rows if r["scenario"] == "idle"]
    busy = [r for r in rows if r["scenario"] == "busy"]
    transport = "Unix sockets" if rows and rows[0]["transport"] == "unix" else "TCP loopback"
    svg = Svg()
    y = 30
    svg.text(WIDTH / 2, y, f"What a connection costs, by concurrency model ({transport}, "
             "measured with conctrace)", size=17, anchor="middle", weight="bold")
    y += 34
    if idle:
        svg.text(40, y, "Memory per connection, idle: every connection open and held "
                 "(bytes per connection, KiB)", size=14, weight="bold")
        svg.legend(40, y + 22, [(label, color) for _, label, color in MEMORY_COLORS])
        y += 80
        ph, gap = 210, 60
        pw = (WIDTH - 80 - gap * (len(conns) - 1)) / len(conns)
        for i, n in enumerate(conns):
            memory_panel(svg, 70 + i * (pw + gap), y, pw - 20, ph, n,
                         [r for r in idle if r["conns"] == n], models)
        y += ph + 50
    if busy:
        svg.text(40, y, f"Per request, busy: {doc['scenarios']['busy']} (whole server, "
                 "its event loop included)", size=14, weight="bold")
        svg.legend(40, y + 22, [(m, MODEL_COLORS.get(m, "#777")) for m in models])
        y += 80
        ph, pw = 200, (WIDTH - 80 - 60) / 2
        per_request_panel(svg, 70, y, pw - 20, ph, "Context switches per request",
                          "ctx_switches_per_request", busy, conns, models)
        per_request_panel(svg, 70 + pw + 60, y, pw - 20, ph, "Syscalls per request",
                          "syscalls_per_request", busy, conns, models)
        y += ph + 45
    caption = ("User memory is the RSS conctrace charged to each connection (page faults "
               "while serving it); kernel objects are the slab objects it holds (sock, inode, "
               "file, dentry, LSM blobs, epoll item, a thread's task_struct and stack, "
               "io_uring requests), buffers its socket queues. Per request: the server "
               "process's context switches and syscalls while it served (start-up excluded), "
               f"over the requests completed. {doc['machine']}. Reproduce: sudo "
               f"{doc['command']} --svg FILE")
    for line in wrap(caption, 150):
        svg.text(40, y, line, size=11, color="#444")
        y += 15
    return svg.render(y + 10)
