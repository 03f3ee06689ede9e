"""The status bar: connection state, the broker's clock and the round-trip latency.

The latency is the time a ``reqCurrentTime`` takes to come back (``connector.server_time``),
measured every few seconds: a slow link means the trader's view of fills lags the market.
"""

from __future__ import annotations

from datetime import datetime

from PyQt6.QtWidgets import QLabel, QStatusBar, QWidget

SLOW_LATENCY_S = 0.5


class TerminalStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_label = QLabel("disconnected")
        self.server_time_label = QLabel("server time: —")
        self.latency_label = QLabel("latency: —")
        self.addWidget(self.state_label, 1)
        self.addPermanentWidget(self.server_time_label)
        self.addPermanentWidget(self.latency_label)

    def set_connection(self, text: str) -> None:
        self.state_label.setText(text)

    def set_server_time(self, when: datetime, latency_s: float) -> None:
        self.server_time_label.setText(f"server time: {when.astimezone():%H:%M:%S}")
        self.latency_label.setText(f"latency: {latency_s * 1000:.0f} ms")
        slow = latency_s > SLOW_LATENCY_S
        self.latency_label.setStyleSheet("color: #c62828; font-weight: bold;" if slow else "")

    def clear_server_time(self) -> None:
        self.server_time_label.setText("server time: —")
        self.latency_label.setText("latency: —")
        self.latency_label.setStyleSheet("")
