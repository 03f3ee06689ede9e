"""Qt table models of the terminal: orders, positions, executions and the log.

Every table is a keyed model (``table.KeyedTableModel``) over declarative columns
(``columns.Column``), viewed through ``proxy.TableProxy`` for sorting and filtering.
"""

from frontend.models.columns import Column
from frontend.models.executions import ExecutionsModel
from frontend.models.log import Level, LogModel
from frontend.models.orders import OrdersModel
from frontend.models.positions import PositionsModel
from frontend.models.proxy import TableProxy
from frontend.models.table import KEY_ROLE, ROW_ROLE, SORT_ROLE, KeyedTableModel

__all__ = ["KEY_ROLE", "ROW_ROLE", "SORT_ROLE", "Column", "ExecutionsModel", "KeyedTableModel",
           "Level", "LogModel", "OrdersModel", "PositionsModel", "TableProxy"]
