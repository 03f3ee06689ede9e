"""ConnectionBar: where the trader connects, and can never mistake which account is live.

Host, port and client id, one Connect/Disconnect button, a state light, the account code and
a large badge: SIM (the built-in simulator), PAPER (an account code starting with ``DU``, the
paper convention of docs/ib-orders.md P11) or LIVE (anything else). Before an account is
known the badge guesses from the port (7497/4002 paper, 7496/4001 live) and says so with a
question mark. The bar only emits requests; the window does the (async) connecting and
reports the outcome back through ``set_state`` and ``set_account``.
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget

from backend.core.models import ConnectionState

PAPER_PORTS = frozenset({7497, 4002})
LIVE_PORTS = frozenset({7496, 4001})

STATE_COLOURS: dict[ConnectionState, str] = {
    ConnectionState.DISCONNECTED: "#9e9e9e",
    ConnectionState.CONNECTING: "#ffb300",
    ConnectionState.CONNECTED: "#2e7d32",
    ConnectionState.RECONNECTING: "#ff6f00",
    ConnectionState.BROKER_LOST: "#e53935",
}
STATE_WORDS: dict[ConnectionState, str] = {
    ConnectionState.DISCONNECTED: "Disconnected",
    ConnectionState.CONNECTING: "Connecting…",
    ConnectionState.CONNECTED: "Connected",
    ConnectionState.RECONNECTING: "Reconnecting…",
    ConnectionState.BROKER_LOST: "TWS lost IB",
}
BADGE_COLOURS = {"SIM": "#1565c0", "PAPER": "#2e7d32", "LIVE": "#c62828", "?": "#616161"}


def is_sim(mode: str) -> bool:
    return mode.strip().lower() == "sim"


def trading_mode(mode: str, account: str, port: int) -> str:
    """SIM, PAPER, LIVE, or a port-based guess ending in '?' while the account is unknown.

    ``mode`` is the launcher's: "sim" (any case) for the built-in simulator, else anything.
    """
    if is_sim(mode):
        return "SIM"
    if account:
        return "PAPER" if account.upper().startswith("DU") else "LIVE"
    if port in PAPER_PORTS:
        return "PAPER?"
    if port in LIVE_PORTS:
        return "LIVE?"
    return "?"


class ConnectionBar(QWidget):
    connect_requested = pyqtSignal(str, int, int)  # host, port, client id
    disconnect_requested = pyqtSignal()

    def __init__(self, mode: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = mode
        self.account = ""
        self.state = ConnectionState.DISCONNECTED
        self.host_edit = QLineEdit("127.0.0.1")
        self.host_edit.setPlaceholderText("host")
        self.host_edit.setMaximumWidth(140)
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.client_spin = QSpinBox()
        self.client_spin.setRange(0, 2**31 - 1)
        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self._on_button)
        self.light = QLabel()
        self.light.setFixedSize(16, 16)
        self.state_label = QLabel()
        self.account_label = QLabel("account: —")
        self.badge = QLabel()
        font = QFont()
        font.setPointSize(16)
        font.setBold(True)
        self.badge.setFont(font)
        self.badge.setMinimumWidth(110)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for label, widget in (("Host", self.host_edit), ("Port", self.port_spin),
                              ("Client id", self.client_spin)):
            layout.addWidget(QLabel(label))
            layout.addWidget(widget)
        layout.addWidget(self.connect_button)
        layout.addWidget(self.light)
        layout.addWidget(self.state_label)
        layout.addSpacing(12)
        layout.addWidget(self.account_label)
        layout.addStretch(1)
        layout.addWidget(self.badge)
        self.port_spin.valueChanged.connect(lambda _v: self._show_badge())
        self.set_state(ConnectionState.DISCONNECTED, "")

    # -- fields ------------------------------------------------------------------------------
    def set_endpoint(self, host: str, port: int, client_id: int) -> None:
        self.host_edit.setText(host)
        self.port_spin.setValue(port)
        self.client_spin.setValue(client_id)

    def endpoint(self) -> tuple[str, int, int]:
        return self.host_edit.text().strip(), self.port_spin.value(), self.client_spin.value()

    # -- state shown ---------------------------------------------------------------------------
    def set_state(self, state: ConnectionState, message: str) -> None:
        self.state = state
        self.light.setStyleSheet(f"background: {STATE_COLOURS[state]}; border-radius: 8px;")
        self.light.setToolTip(state.value)
        self.state_label.setText(STATE_WORDS[state])
        self.state_label.setToolTip(message)
        idle = state is ConnectionState.DISCONNECTED
        self.connect_button.setText("Connect" if idle else "Disconnect")
        for field in (self.host_edit, self.port_spin, self.client_spin):
            field.setEnabled(idle)
        if idle:
            self.set_account("")

    def set_account(self, account: str) -> None:
        self.account = account
        self.account_label.setText(f"account: {account or '—'}")
        self._show_badge()

    def badge_text(self) -> str:
        return self.badge.text()

    def _show_badge(self) -> None:
        text = trading_mode(self.mode, self.account, self.port_spin.value())
        colour = BADGE_COLOURS.get(text.rstrip("?"), BADGE_COLOURS["?"])
        self.badge.setText(text)
        self.badge.setStyleSheet(f"background: {colour}; color: white; padding: 2px 14px;"
                                 " border-radius: 4px;")
        self.badge.setToolTip({"SIM": "the built-in simulator: no real money",
                               "PAPER": "an IB paper account", "LIVE": "REAL MONEY"}.get(
            text.rstrip("?"), "account not known yet"))

    def _on_button(self) -> None:
        if self.state is ConnectionState.DISCONNECTED:
            self.connect_requested.emit(*self.endpoint())
        else:
            self.disconnect_requested.emit()
