"""The cells charnn runs, by the name a run's config gives (`cell`), all through one protocol
(`protocol.Cell`): LSTM, GRU, RNN on PyTorch's modules, minGRU and minLSTM, and any cell a user
registers.

    from charnn.cells import Cell, register, get
    @register
    class MyCell(Cell): ...          # name, kinds, project, step (see protocol and docs/models.md)
    get("lstm").kinds                # ("i", "f", "g", "o", "c", "h")
"""

from __future__ import annotations

from ..units import KIND_NAME, is_latent
from .gru import GRU
from .lstm import LSTM
from .minimal import MinGRU, MinLSTM
from .protocol import Cell
from .rnn import RNN

CELLS: dict[str, type[Cell]] = {c.name: c for c in (LSTM, GRU, RNN, MinGRU, MinLSTM)}
BUILT_IN = tuple(CELLS)


def register(cell: type[Cell]) -> type[Cell]:
    """Make `cell` available under `cell.name` (as a decorator, or called); returns it."""
    if not isinstance(cell, type) or not issubclass(cell, Cell):
        raise TypeError(f"{cell!r} is not a subclass of charnn.cells.Cell")
    for attr in ("name", "kinds"):
        if not getattr(cell, attr, None):
            raise ValueError(f"cell {cell.__name__} has no {attr}")
    bad = [k for k in cell.kinds if not KIND_NAME.match(k) or is_latent(k)]
    if bad:
        raise ValueError(f"cell {cell.name!r}: kinds {bad} are not kind names (lowercase, such as c or h)")
    if "h" not in cell.kinds or set(cell.derived) - set(cell.kinds) or set(cell.carried) - set(cell.kinds):
        raise ValueError(f"cell {cell.name!r}: kinds must include h, derived and carried kinds must be kinds")
    if cell.name in BUILT_IN and CELLS[cell.name] is not cell:
        raise ValueError(f"cell name {cell.name!r} is charnn's own: choose another")
    CELLS[cell.name] = cell
    return cell


def get(name: str) -> type[Cell]:
    """The cell registered as `name`, or a ValueError listing the known ones."""
    if name not in CELLS:
        raise ValueError(f"cell {name!r} is not known: one of {', '.join(sorted(CELLS))} (a cell of your own: "
                         "import the module that registers it first)")
    return CELLS[name]


__all__ = ["BUILT_IN", "CELLS", "Cell", "get", "register"]
