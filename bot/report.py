"""The managers' report: a self-contained HTML page with inline SVG charts.

No JavaScript, no web fonts, no network: the file renders the same offline,
in a mail client's preview or as a PNG screenshot. Every number comes from
``bot.metrics.compute_metrics``; this module only draws.

``weekly_summary`` is the plain-text digest the weekly job posts to the
managers' channel together with ``summary_chart_svg``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from datetime import date, datetime

from supportbot.bot.gaps import Topic
from supportbot.bot.metrics import Metrics, Stats

INK, MUTED, GRID = "#1f2937", "#6b7280", "#e5e7eb"
BLUE, GREEN, AMBER, RED, PURPLE = "#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed"
FONT = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif"

FRT_BUCKETS = [
    (60, "< 1 min"),
    (300, "1–5 min"),
    (900, "5–15 min"),
    (3600, "15–60 min"),
    (4 * 3600, "1–4 h"),
    (24 * 3600, "4–24 h"),
    (float("inf"), "> 24 h"),
]


def pct(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


# ============================================================================ SVG charts


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}" style="{FONT}">'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>' + "".join(body) + "</svg>"
    )


def _nice_max(value: float) -> float:
    """The smallest 1, 2, 4 or 8 times a power of ten that is >= ``value`` (quarters stay round)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return float(next(m * magnitude for m in (1, 2, 4, 8, 10) if m * magnitude >= value))


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 560,
    height: int = 240,
    color: str = BLUE,
    value_format: Callable[[float], str] = lambda v: f"{v:g}",
    y_max: float | None = None,
    label_every: int = 1,
) -> str:
    """Vertical bars with value labels; ``items`` are (x label, value)."""
    left, right, top, bottom = 44, 12, 30, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = y_max if y_max is not None else _nice_max(max((v for _, v in items), default=0))
    body = [f'<text x="{left}" y="18" font-size="13" font-weight="600" fill="{INK}">{_e(title)}</text>']
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" fill="{MUTED}" text-anchor="end">'
            f"{_e(value_format(top_value * i / 4))}</text>"
        )
    n = max(len(items), 1)
    slot = plot_w / n
    bar_w = max(2.0, min(48.0, slot * 0.7))
    for i, (label, value) in enumerate(items):
        h = 0 if top_value == 0 else plot_h * min(value, top_value) / top_value
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h - h
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" rx="2" fill="{color}">'
            f"<title>{_e(label)}: {_e(value_format(value))}</title></rect>"
        )
        if value and n <= 16:
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" font-size="10" fill="{INK}" '
                f'text-anchor="middle">{_e(value_format(value))}</text>'
            )
        if i % label_every == 0:
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16:.1f}" font-size="10" fill="{MUTED}" '
                f'text-anchor="middle">{_e(label)}</text>'
            )
    return _svg(width, height, body, title)


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    title: str,
    width: int = 560,
    height: int = 240,
    label_every: int = 1,
) -> str:
    """Lines of rates (0..1) over ``labels``; None leaves a gap. ``series`` = (name, color, values)."""
    left, right, top, bottom = 44, 28, 30, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    body = [f'<text x="{left}" y="18" font-size="13" font-weight="600" fill="{INK}">{_e(title)}</text>']
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" fill="{MUTED}" text-anchor="end">{i * 25}%</text>'
        )
    n = len(labels)
    step = plot_w / max(n - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + step * i, top + plot_h - plot_h * max(0.0, min(1.0, v))

    for i, label in enumerate(labels):
        if i % label_every == 0:
            body.append(
                f'<text x="{left + step * i:.1f}" y="{top + plot_h + 16:.1f}" font-size="10" '
                f'fill="{MUTED}" text-anchor="middle">{_e(label)}</text>'
            )
    for k, (name, color, values) in enumerate(series):
        segments: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(values):
            if v is None:
                segments.append([])
            else:
                segments[-1].append(xy(i, v))
        for seg in segments:
            if len(seg) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
                body.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2.2"/>')
            for x, y in seg:
                body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        lx = left + k * 190
        ly = height - 14
        body.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="12" rx="2" fill="{color}"/>')
        body.append(f'<text x="{lx + 17}" y="{ly + 1}" font-size="11" fill="{INK}">{_e(name)}</text>')
    return _svg(width, height, body, title)


def grouped_bars(
    groups: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    title: str,
    width: int = 560,
    height: int = 240,
) -> str:
    """Rates (0..1) per group, one bar per series; None draws "n/a"."""
    left, right, top, bottom = 44, 12, 44, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    body = [f'<text x="{left}" y="18" font-size="13" font-weight="600" fill="{INK}">{_e(title)}</text>']
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" fill="{MUTED}" text-anchor="end">{i * 25}%</text>'
        )
    slot = plot_w / max(len(groups), 1)
    bar_w = min(36.0, slot * 0.8 / max(len(series), 1))
    for g, group in enumerate(groups):
        x0 = left + slot * g + (slot - bar_w * len(series)) / 2
        for k, (name, color, values) in enumerate(series):
            v = values[g]
            x = x0 + k * bar_w
            if v is None:
                body.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - 4}" font-size="9" fill="{MUTED}" '
                    f'text-anchor="middle">n/a</text>'
                )
                continue
            h = plot_h * max(0.0, min(1.0, v))
            body.append(
                f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{h:.1f}" rx="2" fill="{color}"><title>{_e(group)} {_e(name)}: {pct(v)}'
                f"</title></rect>"
            )
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - h - 4:.1f}" font-size="10" '
                f'fill="{INK}" text-anchor="middle">{pct(v)}</text>'
            )
        body.append(
            f'<text x="{left + slot * g + slot / 2:.1f}" y="{top + plot_h + 16:.1f}" font-size="11" '
            f'fill="{INK}" text-anchor="middle">{_e(group)}</text>'
        )
    for k, (name, color, _) in enumerate(series):
        lx, ly = left + k * 190, height - 14
        body.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="12" rx="2" fill="{color}"/>')
        body.append(f'<text x="{lx + 17}" y="{ly + 1}" font-size="11" fill="{INK}">{_e(name)}</text>')
    return _svg(width, height, body, title)


def frt_histogram(seconds: Sequence[float]) -> list[tuple[str, float]]:
    counts = [0] * len(FRT_BUCKETS)
    for s in seconds:
        counts[next(i for i, (limit, _) in enumerate(FRT_BUCKETS) if s < limit)] += 1
    return [(label, float(c)) for (_, label), c in zip(FRT_BUCKETS, counts, strict=True)]


# ============================================================================ charts of a Metrics


def _day(d: date) -> str:
    return d.strftime("%d %b")


def _every(n: int) -> int:
    return max(1, (n + 9) // 10)


def volume_chart(m: Metrics) -> str:
    items = [(_day(d), float(s.volume)) for d, s in m.daily]
    return bar_chart(
        items, title="Conversations per day", label_every=_every(len(items)), value_format=lambda v: f"{v:.0f}"
    )


def trends_chart(m: Metrics) -> str:
    labels = [_day(d) for d, _ in m.daily]
    return line_chart(
        labels,
        [
            ("Automated resolution", GREEN, [s.automated_resolution_rate for _, s in m.daily]),
            ("CSAT (all)", BLUE, [s.csat for _, s in m.daily]),
            ("CSAT on bot answers", PURPLE, [s.csat_auto for _, s in m.daily]),
        ],
        title="Automated resolution and CSAT by day",
        label_every=_every(len(labels)),
    )


def frt_chart(m: Metrics) -> str:
    return bar_chart(
        frt_histogram(m.frt_seconds),
        title="First response time distribution",
        color=PURPLE,
        value_format=lambda v: f"{v:.0f}",
    )


def sla_chart(m: Metrics) -> str:
    tiers = list(m.by_tier)
    return grouped_bars(
        tiers,
        [
            ("First response met", BLUE, [m.by_tier[t].frt_sla_compliance for t in tiers]),
            ("Resolution met", GREEN, [m.by_tier[t].resolution_sla_compliance for t in tiers]),
        ],
        title="SLA compliance by account tier",
    )


# ============================================================================ HTML

CSS = """
body{margin:0;background:#f3f4f6;color:#1f2937;font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif}
main{max-width:1160px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:16px;margin:0 0 12px}
.sub{color:#6b7280;margin-bottom:20px}
.tiles{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin-bottom:18px}
.tile{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.tile b{display:block;font-size:22px;margin-top:2px}.tile span{color:#6b7280;font-size:12px}
.tile small{color:#6b7280;font-size:11px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:14px;margin-bottom:14px}
.card{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 2px rgba(0,0,0,.06);overflow:hidden}
.card svg{max-width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e5e7eb}th{color:#6b7280;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#6b7280;font-size:12px;margin-top:8px}
footer{color:#6b7280;font-size:12px;margin-top:18px}
"""


def _tile(label: str, value: str, note: str = "") -> str:
    return f'<div class="tile"><span>{_e(label)}</span><b>{_e(value)}</b><small>{_e(note)}</small></div>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], numeric_from: int = 1) -> str:
    if not rows:
        return '<p class="note">No data in this period.</p>'
    head = "".join(f'<th class="{"n" if i >= numeric_from else ""}">{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"n" if i >= numeric_from else ""}">{_e(c)}</td>' for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _breakdown(rows: dict[str, Stats]) -> list[list[object]]:
    return [
        [
            k,
            s.volume,
            pct(s.automated_resolution_rate),
            pct(s.handoff_rate),
            duration(s.first_response_p50_s),
            pct(s.sla_compliance),
            pct(s.csat),
            s.csat_responses,
        ]
        for k, s in rows.items()
    ]


def render_html(
    m: Metrics,
    *,
    title: str = "Support report",
    generated_at: datetime | None = None,
    zone_name: str = "UTC",
    gaps: Sequence[Topic] = (),
) -> str:
    o = m.overall
    period = f"{o.since.strftime('%d %b %Y')} – {o.until.strftime('%d %b %Y')}"
    tiles = "".join(
        [
            _tile("Conversations", str(o.volume), f"{o.resolved} resolved"),
            _tile("Automated resolution", pct(o.automated_resolution_rate), f"raw deflection {pct(o.deflection_rate)}"),
            _tile("CSAT", pct(o.csat), f"{o.csat_responses} ratings · bot answers {pct(o.csat_auto)}"),
            _tile(
                "First response p50 / p90",
                f"{duration(o.first_response_p50_s)}",
                f"p90 {duration(o.first_response_p90_s)}",
            ),
            _tile(
                "SLA compliance",
                pct(o.sla_compliance),
                f"FRT {pct(o.frt_sla_compliance)} · resolution {pct(o.resolution_sla_compliance)}",
            ),
            _tile("Hand-off rate", pct(o.handoff_rate), f"{o.handoffs} hand-offs"),
            _tile("Drafts approved as is", pct(o.draft_approval_rate), f"{o.drafts_decided} decided drafts"),
            _tile("Drafts edited", pct(o.draft_edit_rate), f"mean edit distance {o.mean_edit_distance or 0:.2f}"),
            _tile("Drafts rejected", pct(o.draft_rejection_rate), f"{o.drafts_pending} pending"),
            _tile("Intent accuracy", pct(o.intent_accuracy), f"from {o.reviewed} agent reviews"),
            _tile("Resolution time p50", duration(o.resolution_p50_s), f"p90 {duration(o.resolution_p90_s)}"),
            _tile(
                "Avg. rating", "—" if o.csat_mean_score is None else f"{o.csat_mean_score:.1f} / 5", "1–5 answers only"
            ),
            *(
                [
                    _tile(
                        "Shadow mode: agents agreed",
                        pct(o.shadow_agreement_rate),
                        f"{o.shadow_decisions} shadow decisions, apart from the figures above "
                        f"({o.shadow_agreed} of {o.shadow_compared} compared)",
                    )
                ]
                if o.shadow_decisions
                else []
            ),
        ]
    )
    top_intents = [
        [i.intent, i.conversations, pct(_share(i.conversations, o.volume)), pct(i.accuracy)] for i in m.intents[:10]
    ]
    overridden = [
        [i.intent, i.overrides, i.reviewed, pct(i.override_rate), pct(i.accuracy)] for i in m.most_overridden[:10]
    ]
    when = (generated_at or o.until).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)} · {_e(period)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head>
<body><main>
<h1>{_e(title)}</h1>
<div class="sub">{_e(period)} · days in {_e(zone_name)} · conversations opened in the period</div>
<section class="tiles">{tiles}</section>
<section class="grid">
<div class="card">{volume_chart(m)}</div>
<div class="card">{trends_chart(m)}</div>
<div class="card">{frt_chart(m)}</div>
<div class="card">{sla_chart(m)}</div>
</section>
<section class="grid">
<div class="card"><h2>Top intents</h2>{_table(["Intent", "Conversations", "Share", "Accuracy"], top_intents)}</div>
<div class="card"><h2>Intents most overridden by agents</h2>
{_table(["Intent", "Overrides", "Reviewed", "Override rate", "Accuracy"], overridden)}
<p class="note">Overrides: edited or rejected drafts and relabels away from the predicted intent.</p></div>
<div class="card"><h2>Knowledge gaps</h2>
{gaps_table(gaps)}
<p class="note">Questions the bot could not answer (handed off for no article, out of scope or low confidence, or
answers rated 👎), grouped by what they say: candidates for new KB articles and training examples.</p></div>
<div class="card"><h2>By account tier</h2>
{_table(["Tier", "Conv.", "Automated", "Hand-off", "FRT p50", "SLA", "CSAT", "Ratings"], _breakdown(m.by_tier))}
<h2 style="margin-top:16px">By channel</h2>
{
        _table(
            ["Channel", "Conv.", "Automated", "Hand-off", "FRT p50", "SLA", "CSAT", "Ratings"],
            _breakdown(m.by_platform),
        )
    }</div>
</section>
<footer>Generated {_e(when)} by supportbot from stored events. Automated resolution: answered by the bot and, within
24 h, not handed off, escalated to a draft, reopened or rated negatively; over all conversations. Raw deflection
(answered by the bot at all) is shown for context only.</footer>
</main></body></html>
"""


def gaps_table(topics: Sequence[Topic], *, limit: int = 10) -> str:
    """The knowledge-gaps table of the managers' report."""
    if not topics:
        return "<p class='note'>No group of unanswered questions in this period.</p>"
    rows = [[t.label, t.size, t.suggested_title, t.examples[0] if t.examples else ""] for t in topics[:limit]]
    return _table(["Topic", "Questions", "Suggested article", "Example"], rows, numeric_from=9)


def gaps_summary(topics: Sequence[Topic], limit: int = 3) -> str | None:
    """One line for the weekly summary, or None without gaps."""
    if not topics:
        return None
    return "• Knowledge gaps: " + "; ".join(f"{t.suggested_title} ({t.size})" for t in topics[:limit])


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ============================================================================ weekly digest


def weekly_summary(current: Stats, previous: Stats | None = None, gaps: Sequence[Topic] = ()) -> str:
    """Plain-text digest for the managers' channel, with week-over-week changes."""

    def delta(now: float | None, before: float | None) -> str:
        if previous is None or now is None or before is None:
            return ""
        points = (now - before) * 100
        return f" ({'+' if points >= 0 else ''}{points:.0f} pts)"

    lines = [
        f"Weekly support summary, {current.since.strftime('%d %b')} – {current.until.strftime('%d %b %Y')}",
        f"• Conversations: {current.volume}"
        + (f" ({current.volume - previous.volume:+d} vs last week)" if previous else ""),
        f"• Automated resolution: {pct(current.automated_resolution_rate)}"
        + delta(current.automated_resolution_rate, previous.automated_resolution_rate if previous else None)
        + f" (raw deflection {pct(current.deflection_rate)})",
        f"• CSAT: {pct(current.csat)} from {current.csat_responses} ratings"
        + delta(current.csat, previous.csat if previous else None)
        + f"; on bot answers {pct(current.csat_auto)}",
        f"• First response p50 / p90: {duration(current.first_response_p50_s)} / "
        f"{duration(current.first_response_p90_s)}",
        f"• SLA compliance: {pct(current.sla_compliance)} ({current.sla_decided - current.sla_clean} missed)",
        f"• Hand-offs: {current.handoffs} ({pct(current.handoff_rate)})",
        f"• Drafts approved / edited / rejected: {current.drafts_approved} / {current.drafts_edited} / "
        f"{current.drafts_rejected}",
    ]
    if current.top_intents:
        lines.append("• Top intents: " + ", ".join(f"{i} ({n})" for i, n in current.top_intents[:5]))
    gap_line = gaps_summary(gaps)
    if gap_line:
        lines.append(gap_line)
    return "\n".join(lines)


def summary_chart_svg(m: Metrics) -> str:
    """The chart attached to the weekly post: volume and automated resolution per day."""
    return trends_chart(m) if any(s.volume for _, s in m.daily) else volume_chart(m)
