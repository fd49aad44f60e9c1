"""Click-to-segment prompts in image pixel coordinates: points (+/-) and an optional box.

Plain data shared by the GUI's tool, the command line and the SAM wrapper in ``models/sam.py``
(which alone knows how the model wants them). Coordinates are (x, y) = (column, row) of the full
image, floats so a click between pixels keeps its position.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SAM_MODELS: tuple[tuple[str, str], ...] = (
    ("sam2.1-tiny", "SAM 2.1 tiny (fastest)"),
    ("sam2.1-small", "SAM 2.1 small"),
    ("sam2.1-base-plus", "SAM 2.1 base+"),
    ("sam2.1-large", "SAM 2.1 large (best, slowest)"),
)
"""The click-to-segment models the app offers (name, menu text), smallest first: the names of
``models.sam.SAM_VARIANTS``, here for the GUI, which never imports the model half."""


@dataclass(frozen=True)
class PromptPoint:
    """One click: ``positive`` adds the object under it, negative removes it."""

    x: float
    y: float
    positive: bool = True


@dataclass(frozen=True)
class Prompts:
    """What the user has said about one object so far."""

    points: tuple[PromptPoint, ...] = ()
    box: tuple[float, float, float, float] | None = None
    """(x0, y0, x1, y1) with x0 <= x1 and y0 <= y1."""

    @property
    def empty(self) -> bool:
        return not self.points and self.box is None

    def with_point(self, point: PromptPoint) -> Prompts:
        return replace(self, points=(*self.points, point))

    def with_box(self, x0: float, y0: float, x1: float, y1: float) -> Prompts:
        """A box from any two corners (a drag in any direction)."""
        return replace(self, box=(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))

    def outside(self, width: int, height: int) -> str | None:
        """Why the prompts do not fit an image of ``width`` x ``height`` (None when they do)."""
        for point in self.points:
            if not (0 <= point.x <= width and 0 <= point.y <= height):
                return f"point {point.x:g},{point.y:g} lies outside the {width}x{height} image"
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
                return f"box {x0:g},{y0:g},{x1:g},{y1:g} reaches outside the {width}x{height} image"
            if x1 - x0 < 1 or y1 - y0 < 1:
                return f"box {x0:g},{y0:g},{x1:g},{y1:g} is empty"
        return None


def parse_point(text: str) -> PromptPoint:
    """``x,y`` or ``x,y,+`` (positive) or ``x,y,-`` (negative); ValueError says what is wrong."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) not in (2, 3):
        raise ValueError(f"point {text!r}: expected x,y or x,y,+ or x,y,-")
    sign = parts[2] if len(parts) == 3 else "+"
    if sign not in ("+", "-"):
        raise ValueError(f"point {text!r}: the third field must be + or -")
    x, y = _numbers(text, parts[:2], "point")
    return PromptPoint(x, y, sign == "+")


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``x0,y0,x1,y1`` (any two opposite corners) as (left, top, right, bottom)."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4:
        raise ValueError(f"box {text!r}: expected x0,y0,x1,y1")
    x0, y0, x1, y1 = _numbers(text, parts, "box")
    return Prompts().with_box(x0, y0, x1, y1).box  # type: ignore[return-value]


def _numbers(text: str, parts: list[str], what: str) -> list[float]:
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise ValueError(f"{what} {text!r}: coordinates must be numbers") from None
    if any(value != value or value in (float("inf"), float("-inf")) for value in values):
        raise ValueError(f"{what} {text!r}: coordinates must be finite")
    return values
