"""One look for the whole window: a dark theme (the default) and a light one.

Why: the chart was dark and everything around it light, so the eye re-adapted at every
glance from the tape to the orders. A trader's screen is dark almost everywhere (TWS,
TradingView, vnpy), and a dark window is also easier on a screen kept open all day. The
theme is a palette as data (:class:`Theme`); :func:`apply` puts it on the QApplication
(Fusion style, a QPalette and one small style sheet) and remembers it, so widgets built
afterwards (the chart) read the same colours from :func:`current`.

The P&L, side and status colours (``frontend.models.columns``) are mid-tones that read on
both backgrounds, so the tables need no per-theme colourers.
"""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str
    alternate: str
    text: str
    muted: str
    button: str
    highlight: str
    border: str
    chart_background: str
    chart_foreground: str
    last: str
    grid_alpha: float


DARK = Theme(name="dark", window="#131722", base="#181c27", alternate="#1e2230",
             text="#d1d4dc", muted="#8a8f9c", button="#2a2e39", highlight="#2962ff",
             border="#2a2e39", chart_background="#131722", chart_foreground="#b2b5be",
             last="#d1d4dc", grid_alpha=0.12)
LIGHT = Theme(name="light", window="#f5f6f8", base="#ffffff", alternate="#f0f2f5",
              text="#131722", muted="#5d606b", button="#e6e8ec", highlight="#2962ff",
              border="#c9ccd3", chart_background="#ffffff", chart_foreground="#434651",
              last="#131722", grid_alpha=0.18)
THEMES: dict[str, Theme] = {"dark": DARK, "light": LIGHT}

_current: Theme = DARK


def current() -> Theme:
    """The theme last applied (dark until one is)."""
    return _current


def by_name(name: str) -> Theme:
    try:
        return THEMES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown theme {name!r}: use one of {', '.join(THEMES)}") from None


def palette(theme: Theme) -> QPalette:
    p = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    colours = {
        role.Window: theme.window, role.WindowText: theme.text, role.Base: theme.base,
        role.AlternateBase: theme.alternate, role.Text: theme.text,
        role.Button: theme.button, role.ButtonText: theme.text,
        role.ToolTipBase: theme.base, role.ToolTipText: theme.text,
        role.Highlight: theme.highlight, role.HighlightedText: "#ffffff",
        role.PlaceholderText: theme.muted, role.BrightText: "#ffffff",
        role.Link: theme.highlight,
    }
    for r, colour in colours.items():
        p.setColor(r, QColor(colour))
    for r in (role.Text, role.WindowText, role.ButtonText):
        p.setColor(group.Disabled, r, QColor(theme.muted))
    return p


def style_sheet(theme: Theme) -> str:
    """Only what the palette cannot say: header and dock-title colours, the totals line."""
    return (
        f"QHeaderView::section {{ background: {theme.button}; color: {theme.text};"
        f" border: 0; border-right: 1px solid {theme.border}; padding: 2px 4px; }}"
        f" QTableView {{ gridline-color: {theme.border}; }}"
        f" QDockWidget::title {{ background: {theme.button}; padding: 3px 6px; }}"
        f" QToolTip {{ color: {theme.text}; background: {theme.base};"
        f" border: 1px solid {theme.border}; }}"
        f" QLabel#totals {{ font-weight: bold; padding: 2px 4px; }}"
    )


def apply(name: str = "dark", app: QApplication | None = None) -> Theme:
    """Put theme ``name`` on the application; returns it. Without an app, only remembers."""
    global _current
    theme = by_name(name)
    _current = theme
    app = app or QApplication.instance()
    if isinstance(app, QApplication):
        app.setStyle("Fusion")  # the native styles ignore parts of a dark palette
        app.setPalette(palette(theme))
        app.setStyleSheet(style_sheet(theme))
    return theme
