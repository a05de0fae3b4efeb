"""Pages and charts for the CX-ops person: the simulation report with its risk-coverage chart, and
the knowledge-gaps section of the managers' report.

Every SVG uses presentation attributes only (no ``style``), so the playground's strict
Content-Security-Policy renders it inline; every text is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from supportbot.bot.report import BLUE, CSS, GREEN, GRID, INK, MUTED, RED, pct
from supportbot.bot.simulate import Simulation

FONT_FAMILY = "-apple-system,Segoe UI,Helvetica,Arial,sans-serif"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def risk_coverage_svg(sim: Simulation, *, width: int = 640, height: int = 320) -> str:
    """Precision (y) against automation rate (x) as the global threshold sweeps; the target as a
    dashed line, today's settings and the recommendation as marked points."""
    left, right, top, bottom = 52, 24, 34, 52
    pw, ph = width - left - right, height - top - bottom
    points = [p for p in sim.curve if p.precision is not None]
    x_max = max([p.automation_rate for p in sim.curve] + [sim.actions["answer"], 0.05])
    x_max = min(1.0, (int(x_max * 10) + 1) / 10)
    y_min = min([p.precision for p in points if p.precision is not None] + [sim.target_precision - 0.02, 0.9])
    y_min = max(0.0, int(y_min * 20) / 20)

    def xy(x: float, y: float) -> tuple[float, float]:
        return left + pw * x / x_max, top + ph - ph * (y - y_min) / max(1.0 - y_min, 1e-9)

    body = [
        f'<text x="{left}" y="20" font-size="13" font-weight="600" fill="{INK}">'
        "Risk-coverage: precision of automatic answers as the threshold changes</text>"
    ]
    for i in range(5):
        y_val = y_min + (1.0 - y_min) * i / 4
        _, y = xy(0, y_val)
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" fill="{MUTED}" text-anchor="end">'
            f"{y_val * 100:.0f}%</text>"
        )
    for i in range(6):
        x_val = x_max * i / 5
        x, _ = xy(x_val, y_min)
        body.append(
            f'<text x="{x:.1f}" y="{top + ph + 16}" font-size="10" fill="{MUTED}" text-anchor="middle">'
            f"{x_val * 100:.0f}%</text>"
        )
    body.append(
        f'<text x="{left + pw / 2:.1f}" y="{height - 8}" font-size="11" fill="{MUTED}" text-anchor="middle">'
        "automatic answers (share of all tickets)</text>"
    )
    _, ty = xy(0, sim.target_precision)
    body.append(
        f'<line x1="{left}" x2="{left + pw}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{RED}" stroke-dasharray="5 4"/>'
        f'<text x="{left + pw - 4}" y="{ty - 5:.1f}" font-size="10" fill="{RED}" text-anchor="end">'
        f"target {sim.target_precision * 100:.0f}%</text>"
    )
    coords = [xy(p.automation_rate, p.precision) for p in points if p.precision is not None]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        body.append(f'<polyline points="{path}" fill="none" stroke="{BLUE}" stroke-width="2"/>')
    for p, (x, y) in zip(points, coords, strict=True):
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{BLUE}"><title>threshold {p.threshold:.2f}: '
            f"{pct(p.automation_rate, 1)} automatic at {pct(p.precision, 1)} precision</title></circle>"
        )
    marks: list[tuple[str, float, float | None, str]] = [("today", sim.actions["answer"], sim.automatic_precision, INK)]
    rec = sim.recommended
    marks.append(("recommended", rec.automation_rate, rec.precision, GREEN))
    for name, rate, precision, color in marks:
        if precision is None:
            continue
        x, y = xy(rate, max(y_min, precision))
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="none" stroke="{color}" stroke-width="2.2"/>'
            f'<text x="{x + 9:.1f}" y="{y + 14:.1f}" font-size="11" fill="{color}">{_e(name)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Risk-coverage chart" font-family="{FONT_FAMILY}" class="chart">'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>' + "".join(body) + "</svg>"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def simulation_fragment(sim: Simulation) -> str:
    """The simulation's figures, chart and tables as an HTML fragment (report and playground)."""
    a, rec = sim.actions, sim.recommended
    summary = _table(
        ["", "automatic", "drafted", "handed off", "automatic precision"],
        [
            [
                "today's settings",
                pct(a["answer"], 1),
                pct(a["draft"], 1),
                pct(a["handoff"], 1),
                pct(sim.automatic_precision, 1),
            ],
            ["recommended", pct(rec.automation_rate, 1), "", "", pct(rec.precision, 1)],
        ],
    )
    thresholds = [["global", f"{rec.global_threshold:.2f}"]] + [
        [intent, f"{t:.2f}"] for intent, t in sorted(rec.per_intent.items())
    ]
    note = (
        ""
        if rec.reached
        else "<p class='note'>No threshold reaches the target precision on these tickets: nothing is recommended "
        "for automatic answers (global 1.00).</p>"
    )
    curve = [[f"{p.threshold:.2f}", pct(p.automation_rate, 1), pct(p.precision, 1)] for p in sim.curve]
    intents = [
        [r["intent"], r["tickets"], r["answered"], pct(r["correct"] / r["answered"], 1) if r["answered"] else "—"]
        for r in sim.per_intent
    ]
    return (
        f"<section class='sim'>{summary}{note}<div class='card'>{risk_coverage_svg(sim)}</div>"
        f"<div class='grid'><div class='card'><h2>Recommended thresholds (target {pct(sim.target_precision)})</h2>"
        f"{_table(['intent', 'threshold'], thresholds)}"
        "<p class='note'>Per-intent thresholds need at least 10 tickets predicted as the intent; small samples "
        "make them statistically weak, so check them against more tickets before setting them.</p></div>"
        f"<div class='card'><h2>Per predicted intent, today's settings</h2>"
        f"{_table(['intent', 'tickets', 'automatic', 'precision'], intents)}</div></div>"
        "<div class='card'><h2>Curve: one global threshold</h2>"
        f"{_table(['threshold', 'automatic', 'precision'], curve)}"
        "</div></section>"
    )


def simulation_html(sim: Simulation, *, source: str, model_version: str, account: str | None) -> str:
    """A self-contained page (inline SVG, no scripts, no network)."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sub = (
        f"{sim.n} tickets from {source} · model {model_version} · account {account or 'unknown customer'} · "
        f"target precision {pct(sim.target_precision)} · {when}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Simulation</title>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{CSS}</style></head>"
        f"<body><main><h1>What the bot would have done</h1><div class='sub'>{_e(sub)}</div>"
        f"{simulation_fragment(sim)}<footer>Replayed through the real triage and policy by `supportbot simulate`; "
        "nothing was posted or stored.</footer></main></body></html>"
    )
