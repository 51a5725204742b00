"""What the job figures share: the page's colours, the transparent layout, and how a metric value reads."""

from __future__ import annotations

ACCENT = "#2563eb"
BEST = "#16a34a"
MUTED = "#94a3b8"
DANGER = "#dc2626"


def plotly_layout(height: int = 300, *, bottom: int = 48, **extra) -> dict:
    """A layout on the page's background and font; ``extra`` replaces or adds keys (``margin`` too)."""
    return {
        "height": height,
        "margin": {"l": 56, "r": 16, "t": 12, "b": bottom},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "inherit", "size": 12},
        **extra,
    }


def format_metric(value: float | None) -> str:
    """A metric value the way a table shows it: 6 significant digits, no trailing zeros."""
    if value is None:
        return "—"
    return f"{value:.6g}"
