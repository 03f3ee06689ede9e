"""Readable failures of the broker connection: one sentence each, never a traceback."""

from __future__ import annotations

from backend.core.errors import BrokerUnavailable, ContractNotFound


class BrokerError(Exception):
    """Base of every error the connector raises to Sigma9's core and UI."""


class ConnectFailed(BrokerError):
    pass


class NotConnected(BrokerError, BrokerUnavailable):
    def __init__(self) -> None:
        super().__init__("not connected to TWS/IB Gateway")


class UnknownSymbol(BrokerError, ContractNotFound):
    def __init__(self, symbol: str) -> None:
        super().__init__(f"unknown symbol {symbol!r}: IB has no stock contract for it")
        self.symbol = symbol


def explain_connect_failure(exc: BaseException, host: str, port: int, client_id: int,
                            timeout: float, saw_326: bool) -> str:
    """Turn what connectAsync raised into the sentence a trader needs."""
    where = f"{host}:{port}"
    if saw_326:
        return (f"client id {client_id} is already in use at {where}; "
                "choose another client id or close the other session")
    if isinstance(exc, ConnectionRefusedError):
        return (f"nothing is listening on {where}: start TWS or IB Gateway and enable the "
                "API socket on that port (paper: Gateway 4002, TWS 7497)")
    if isinstance(exc, (TimeoutError,)) or type(exc).__name__ == "TimeoutError":
        return (f"no API handshake from {where} within {timeout:g}s: check that the API is "
                "enabled, this host is trusted, and client id "
                f"{client_id} is not already in use")
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot reach {where}: {exc.strerror}"
    return f"connection to {where} failed: {exc or type(exc).__name__}"


class NonPaperAccount(BrokerError):
    """An order for an account that is not a paper one, while live trading is not enabled."""

    def __init__(self, account: str, symbol: str) -> None:
        super().__init__(f"account {account} is not a paper account and live trading is "
                         f"disabled (broker.live_trading_enabled), so the {symbol} order "
                         "was not sent")
        self.account = account


def is_paper_account(account: str) -> bool:
    """IB paper accounts start with DU: a convention, not an IB guarantee (docs/ib-orders.md
    P11); ``sizing.EntryContext.is_paper`` reads it the same way."""
    return account.strip().upper().startswith("DU")


def check_may_send(account: str, live_trading_enabled: bool, symbol: str) -> None:
    """Every order Sigma9 sends passes here: strategy entries, exits, manual orders."""
    if not live_trading_enabled and not is_paper_account(account):
        raise NonPaperAccount(account or "(none)", symbol)
