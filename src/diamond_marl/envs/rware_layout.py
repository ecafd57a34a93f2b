"""RobotWarehouse floor plans: the original RWARE layouts and any shelf grid.

``layout`` computes a plan in numpy with the formulas of ``rware.Warehouse`` and Jumanji's
generator; ``layout_generator_class`` is Jumanji's ``RandomGenerator`` on that plan.
"""

from __future__ import annotations

import functools
import re

import jax.numpy as jnp
import numpy as np

from diamond_marl.errors import allowed

# (shelf_rows, shelf_columns) per original layout name (rware/__init__.py ``_sizes``).
LAYOUTS: dict[str, tuple[int, int]] = {
    "tiny": (1, 3),
    "small": (2, 3),
    "medium": (2, 5),
    "large": (3, 5),
}
COLUMN_HEIGHT = 8  # every registered original layout
_GRID = re.compile(r"^(?P<rows>\d+)x(?P<cols>\d+)$")


def shelf_grid(layout_name: str) -> tuple[int, int]:
    """(shelf_rows, shelf_columns) of a named layout or of ``'<rows>x<columns>'`` (e.g.
    ``'5x11'``: any size the original ``Warehouse(shelf_rows, shelf_columns)`` takes, whose
    shelf columns must be odd)."""
    if layout_name in LAYOUTS:
        return LAYOUTS[layout_name]
    grid = _GRID.match(layout_name)
    if grid is None or int(grid["rows"]) < 1 or int(grid["cols"]) % 2 != 1:
        raise allowed(
            layout_name, "rware layout", [*LAYOUTS, "<rows>x<columns>, rows >= 1, columns odd"]
        )
    return int(grid["rows"]), int(grid["cols"])


@functools.cache
def layout(shelf_rows: int, shelf_columns: int, column_height: int = COLUMN_HEIGHT) -> dict:
    """The original RWARE floor plan in numpy: grid size, highway cells, goals, shelf count.

    Same formulas as ``rware.Warehouse._make_layout_from_params`` and Jumanji's generator;
    positions are (row, col). Cheap: no JAX involved.
    """
    height = (column_height + 1) * shelf_rows + 2
    width = 3 * shelf_columns + 1
    rows, cols = np.indices((height, width))
    highways = (
        (cols % 3 == 0)  # vertical aisles
        | (rows % (column_height + 1) == 0)  # horizontal aisles
        | (rows == height - 1)  # delivery row
        | (  # the middle cluster next to the goals is removed so robots can queue
            (rows > height - (column_height + 3))
            & ((cols == width // 2 - 1) | (cols == width // 2))
        )
    )
    goals = np.array([[height - 1, width // 2 - 1], [height - 1, width // 2]], np.int32)
    highways.setflags(write=False)  # cached: shared by every env with this layout
    goals.setflags(write=False)
    return {
        "height": height,
        "width": width,
        "highways": highways,  # (H, W) bool
        "goals": goals,  # (2, 2) (row, col)
        "num_shelves": int((~highways).sum()),
    }


@functools.cache
def layout_generator_class() -> type:
    """Jumanji's ``RandomGenerator`` with the floor plan computed in numpy (``layout``).

    Jumanji's own ``_make_warehouse`` evaluates the plan op by op (about 2 s per env); this
    one produces the same arrays (checked against Jumanji in the tests) in microseconds, and
    the same ``__call__`` draws the same episodes from the same key.
    """
    from jumanji.environments.routing.robot_warehouse.generator import RandomGenerator

    class LayoutGenerator(RandomGenerator):
        def _make_warehouse(self) -> None:
            plan = layout(self.shelf_rows, self.shelf_columns, self.column_height)
            rows_cols = plan["goals"]  # (2, 2) (row, col); Jumanji stores goals as (col, row)
            self._goals = jnp.asarray(rows_cols[:, ::-1].copy(), jnp.int32)
            self._highways = jnp.asarray(plan["highways"])  # (H, W) bool
            self._shelf_positions = jnp.asarray(np.argwhere(~plan["highways"]), jnp.int32)
            self._shelf_ids = jnp.arange(plan["num_shelves"], dtype=jnp.int32)
            self._not_in_queue_size = plan["num_shelves"] - self.request_queue_size

    return LayoutGenerator
