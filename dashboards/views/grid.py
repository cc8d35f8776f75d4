"""The dashboard's tables: Dash AG Grid, sortable by any column, rows identified by an `id` field
that names what a click opens (a unit, `1:c:37`, or a unit of a recording, `step-0001200/1:c:37`).

    grid("search-table", [column("layer"), column("r", "correlation with the target")])
    Input("search-table", "cellClicked")  ->  clicked_id(cell) == "1:c:37"
    rows(df, ["layer", "kind", "unit", "r"], row_id=lambda row: ...)   # JSON-safe rowData

Rows are sorted in the browser; the server sends at most a few hundred of them.
"""

from __future__ import annotations

import dash_ag_grid as dag
import numpy as np
import pandas as pd

from charnn.units import Unit

UNIT = {"comparator": {"function": "unitOrder"}}  # assets/dashAgGridFunctions.js: 1:c:9 before 1:c:10


def column(field: str, tip: str | None = None, fmt: str | None = None, unit: bool = False, width: int = 64) -> dict:
    """A column definition headed by its field's name, at least `width` pixels wide; `tip` is the
    header's tooltip. With `fmt` (a d3 format: ".3f", "+.3f", ",d") it holds right-aligned
    numbers shown in that format and sorted by value; unit names (1:c:37) sort by layer, kind, number."""
    out = {"field": field, "headerName": field.replace("_", " "), "minWidth": width, **(UNIT if unit else {})}
    if fmt:
        out.update(type="rightAligned",
                   valueFormatter={"function": f"params.value == null ? '' : d3.format('{fmt}')(params.value)"})
    if tip:
        out["headerTooltip"] = tip
    return out


def grid(grid_id: str, columns: list[dict], height: int | None = 380, empty: str = "no rows yet") -> dag.AgGrid:
    """A grid with no rows; `empty` is what it says until it has some. height None: as tall as its
    rows (for a table of a few rows)."""
    options = {"rowHeight": 26, "headerHeight": 30, "tooltipShowDelay": 300, "animateRows": False,
               "suppressCellFocus": True, "localeText": {"noRowsToShow": empty},
               "suppressColumnVirtualisation": True}  # every column's cells exist, also those scrolled out of view
    if height is None:
        options["domLayout"] = "autoHeight"
    return dag.AgGrid(
        id=grid_id, columnDefs=columns, rowData=[], getRowId="params.data.id", className="grid",
        defaultColDef={"sortable": True, "resizable": True, "flex": 1}, dashGridOptions=options,
        style={"width": "100%"} if height is None else {"height": f"{height}px", "width": "100%"},
    )


def clicked_id(cell: dict | None) -> str | None:
    """The id of the row a `cellClicked` event came from, or None."""
    return cell.get("rowId") if isinstance(cell, dict) and isinstance(cell.get("rowId"), str) else None


def clicked_unit(cell: dict | None) -> tuple[str | None, Unit] | None:
    """(recording or None, unit) of a clicked row whose id is `1:c:37` or `step-0001200/1:c:37`;
    None for no click or an id that names no unit (only a crafted request sends one)."""
    row_id = clicked_id(cell)
    if row_id is None:
        return None
    rec, _, unit = row_id.rpartition("/")
    try:
        return rec or None, Unit.parse(unit)
    except ValueError:
        return None


def rows(df: pd.DataFrame, columns: list[str], row_id=None) -> list[dict]:
    """JSON-safe rows: floats rounded to 3 places, NaN as empty; `row_id(row)` gives each its id."""
    out = []
    for rec in df.to_dict("records"):
        row = {c: plain(rec.get(c)) for c in columns}
        if row_id is not None:
            row["id"] = row_id(rec)
        out.append(row)
    return out


def plain(v):
    """A numpy or pandas scalar as a JSON value: floats rounded to 3 places, NaN and None as None."""
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else round(float(v), 3)
    if isinstance(v, (np.integer, np.bool_)):
        return v.item()
    return None if v is pd.NA else v
