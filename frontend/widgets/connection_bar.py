"""ConnectionBar: where the trader connects, and can never mistake which account is live.

Host, port and client id, one Connect/Disconnect button, a state light, the account code and
a large badge: SIM (the built-in simulator), PAPER (an account code starting with ``DU``, the
paper convention of docs/ib-orders.md P11) or LIVE (anything else). Before an account is
known the badge guesses from the port (7497/4002 paper, 7496/4001 live; "IB?" for another
port) and says so with a question mark. The badge always shows a mode, also while
disconnected: after a disconnect it keeps the last account's (dimmed, "not connected" in its
tooltip) until the endpoint is changed, so a trader about to reconnect still sees LIVE.
The bar only emits requests; the window does the (async) connecting and reports the
outcome back through ``set_state`` and ``set_account``.
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
BADGE_COLOURS = {"SIM": "#1565c0", "PAPER": "#2e7d32", "LIVE": "#c62828", "IB": "#616161",
                 "?": "#616161"}
DIMMED_BADGE_COLOURS = {"SIM": "#0d3c70", "PAPER": "#1a4a1d", "LIVE": "#6e1616", "IB": "#3d3d3d",
                        "?": "#3d3d3d"}
"""While not connected: the same hue, darker, so connected and not connected differ."""


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
    return "IB?"


class ConnectionBar(QWidget):
    connect_requested = pyqtSignal(str, int, int)  # host, port, client id
    disconnect_requested = pyqtSignal()

    def __init__(self, mode: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = mode
        self.account = ""
        self.last_account = ""
        """The account of the last connection, kept for the badge while disconnected."""
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
        self.port_spin.valueChanged.connect(self._on_endpoint_edited)
        self.host_edit.textEdited.connect(self._on_endpoint_edited)
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
        if account:
            self.last_account = account
        shown = account or (f"— (last {self.last_account})" if self.last_account else "—")
        self.account_label.setText(f"account: {shown}")
        self._show_badge()

    def badge_text(self) -> str:
        return self.badge.text()

    def _on_endpoint_edited(self, *_args: object) -> None:
        """Another endpoint is another account: the last one no longer says anything."""
        if self.state is ConnectionState.DISCONNECTED:
            self.last_account = ""
            self.account_label.setText("account: —")
        self._show_badge()

    def _show_badge(self) -> None:
        connected = self.state is not ConnectionState.DISCONNECTED
        account = self.account or ("" if connected else self.last_account)
        text = trading_mode(self.mode, account, self.port_spin.value())
        key = text.rstrip("?") or "?"
        colours = BADGE_COLOURS if connected or is_sim(self.mode) else DIMMED_BADGE_COLOURS
        self.badge.setText(text)
        self.badge.setStyleSheet(f"background: {colours.get(key, colours['?'])}; color: white;"
                                 " padding: 2px 14px; border-radius: 4px;")
        tip = {"SIM": "the built-in simulator: no real money", "PAPER": "an IB paper account",
               "LIVE": "REAL MONEY"}.get(key, "TWS or IB Gateway: account not known yet")
        if text.endswith("?"):
            tip += " (guessed from the port until the account is known)"
        if not connected:
            tip += " (not connected)"
        self.badge.setToolTip(tip)

    def _on_button(self) -> None:
        if self.state is ConnectionState.DISCONNECTED:
            self.connect_requested.emit(*self.endpoint())
        else:
            self.disconnect_requested.emit()
