"""Maps drawn on the server as inline SVG from the vendored Natural Earth shapes.

Why on the server: the map is the same for every reader of a release, so it is computed once
and cached with the page; it needs no script (pages keep working with JavaScript off and the
strict CSP stays as it is), no JavaScript library to vendor and audit, and tests can read it
over plain HTTP. The shapes are world-atlas's TopoJSON (server/static/vendor/world-atlas/):
arcs are decoded and projected here (plate carrée with the longitudes narrowed by cos 35°, a
fair look for Europe and Africa), in about a hundred lines.

Countries are matched by code, never by name: the graph's ISO 3166-1 alpha-3 code gives the
numeric code (the shapes' ids) through the vendored ISO table, and the row must also agree with
the graph's alpha-2 code. A country too small for the 1:110m shapes is drawn as a dot at the
centre of its 1:50m shape; a country without a code or shape is listed under the map instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
ATLAS = VENDOR / "world-atlas"
ISO_CODES = VENDOR / "i18n-iso-countries" / "codes.json"
X_SCALE = math.cos(math.radians(35))
WIDTH = 1000.0
MARGIN_DEG = 3.0

Point = tuple[float, float]
Ring = list[Point]


@dataclass(frozen=True)
class Shape:
    """One country of the atlas: its rings (lon, lat) and the box around them."""

    rings: tuple[tuple[Point, ...], ...]
    box: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat

    @property
    def centre(self) -> Point:
        """The middle of the box of the largest ring (where a dot or label goes)."""
        largest = max(self.rings, key=_ring_area)
        lons = [p[0] for p in largest]
        lats = [p[1] for p in largest]
        return (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2


def _ring_area(ring: Iterable[Point]) -> float:
    pts = list(ring)
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(pts, pts[1:] + pts[:1], strict=True))) / 2


def _decode(topology: dict) -> dict[str, Shape]:  # type: ignore[type-arg]
    """Country shapes by numeric id from a TopoJSON topology (quantized, delta-encoded arcs)."""
    sx, sy = topology["transform"]["scale"]
    tx, ty = topology["transform"]["translate"]
    arcs: list[list[Point]] = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)

    def ring(indexes: list[int]) -> tuple[Point, ...]:
        out: list[Point] = []
        for i in indexes:
            points = arcs[i] if i >= 0 else arcs[~i][::-1]
            out.extend(points if not out else points[1:])
        return _unwrap(out)

    shapes: dict[str, Shape] = {}
    for geom in topology["objects"]["countries"]["geometries"]:
        if "id" not in geom or geom.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        polygons = [geom["arcs"]] if geom["type"] == "Polygon" else geom["arcs"]
        rings = tuple(ring(r) for polygon in polygons for r in polygon)
        lons = [p[0] for r in rings for p in r]
        lats = [p[1] for r in rings for p in r]
        shapes[str(geom["id"])] = Shape(rings, (min(lons), min(lats), max(lons), max(lats)))
    return shapes


def _unwrap(ring: list[Point]) -> tuple[Point, ...]:
    """A ring that crosses the antimeridian continues past +-180 instead of jumping across the
    whole map (which would draw a band from one edge to the other)."""
    out: list[Point] = []
    shift = 0.0
    for lon, lat in ring:
        if out and abs(lon + shift - out[-1][0]) > 180:
            shift += 360 if lon + shift < out[-1][0] else -360
        out.append((lon + shift, lat))
    return tuple(out)


def _main_box(shape: Shape) -> tuple[float, float, float, float]:
    """The box of a country's largest ring: France without French Guiana, Norway without
    Svalbard, so a map of Europe and Africa is not stretched to South America."""
    largest = max(shape.rings, key=_ring_area)
    lons = [p[0] for p in largest]
    lats = [p[1] for p in largest]
    return min(lons), min(lats), max(lons), max(lats)


@cache
def shapes(scale: str = "110m") -> dict[str, Shape]:
    """The atlas at one scale ("110m" drawn, "50m" for the dots), read once per process."""
    return _decode(json.loads((ATLAS / f"countries-{scale}.json").read_text(encoding="utf-8")))


@cache
def iso_numeric() -> dict[str, tuple[str, str]]:
    """ISO 3166-1 alpha-3 -> (numeric, alpha-2), from the vendored table."""
    rows = json.loads(ISO_CODES.read_text(encoding="utf-8"))
    return {a3: (num, a2) for a2, a3, num, *_ in rows}


def numeric_code(alpha3: str | None, alpha2: str | None) -> str | None:
    """The numeric code of a country whose two codes agree in the table, else None."""
    row = iso_numeric().get(alpha3 or "")
    if row is None or (alpha2 is not None and row[1] != alpha2):
        return None
    return row[0]


@dataclass
class Place:
    """A country to draw: its code, how it is shown (CSS classes), where it links, its tooltip."""

    alpha3: str | None
    alpha2: str | None
    classes: tuple[str, ...]
    href: str | None
    title: str


@dataclass
class Drawn:
    """A map: the SVG markup and the places that could not be drawn."""

    svg: str
    missing: list[Place]


def draw(places: list[Place], *, focus_box_of: Iterable[Place] | None = None, label: str = "",
         margin: float = MARGIN_DEG) -> Drawn:
    """An SVG map of every atlas country, the places filled by their classes.

    The view spans the places of `focus_box_of` (all places by default), with `margin` degrees
    around them.
    """
    atlas = shapes("110m")
    small = shapes("50m")
    by_code: dict[str, Place] = {}
    missing: list[Place] = []
    for place in places:
        code = numeric_code(place.alpha3, place.alpha2)
        if code is None or (code not in atlas and code not in small):
            missing.append(place)
        else:
            by_code[code] = place
    framed = [numeric_code(p.alpha3, p.alpha2) for p in (focus_box_of or places)]
    boxes = [_main_box(atlas.get(c) or small[c]) for c in framed if c and (c in atlas or c in small)]
    if not boxes:
        boxes = [(-20.0, -35.0, 50.0, 70.0)]
    west = min(b[0] for b in boxes) - margin
    south = max(min(b[1] for b in boxes) - margin, -85.0)
    east = max(b[2] for b in boxes) + margin
    north = min(max(b[3] for b in boxes) + margin, 85.0)
    if focus_box_of is not None:  # a regional view: at least 4:3, so a narrow country keeps its region
        extra = (4 / 3 * (north - south) - (east - west) * X_SCALE) / X_SCALE / 2
        west, east = (west - extra, east + extra) if extra > 0 else (west, east)
    k = WIDTH / ((east - west) * X_SCALE)
    height = (north - south) * k

    def xy(p: Point) -> str:
        return f"{(p[0] - west) * X_SCALE * k:.0f},{(north - p[1]) * k:.0f}"

    def visible(box: tuple[float, float, float, float]) -> bool:
        return box[2] >= west and box[0] <= east and box[3] >= south and box[1] <= north

    # width and height give the element the view's proportions, so nothing outside it shows
    parts = [f'<svg class="worldmap" viewBox="0 0 {WIDTH:.0f} {height:.0f}" width="{WIDTH:.0f}" '
             f'height="{height:.0f}" role="img" '
             f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
             f'<rect class="sea" width="{WIDTH:.0f}" height="{height:.0f}"/>']
    marked: list[str] = []
    for code, shape in sorted(atlas.items()):
        if not visible(shape.box):
            continue
        d = "".join("M" + "L".join(_thin([xy(p) for p in ring])) + "Z" for ring in shape.rings)
        found = by_code.get(code)
        if found is None:
            parts.append(f'<path class="land" d="{d}"/>')
        else:
            place = found
            marked.append(_mark(place, f'<path class="{" ".join(place.classes)}" data-code="{code}" d="{d}">'
                                       f'<title>{escape(place.title)}</title></path>'))
    for code, place in sorted(by_code.items()):
        if code in atlas:
            continue
        cx, cy = xy(small[code].centre).split(",")
        classes = " ".join((*place.classes, "dot"))
        marked.append(_mark(place, f'<circle class="{classes}" data-code="{code}" cx="{cx}" cy="{cy}" r="5">'
                                   f'<title>{escape(place.title)}</title></circle>'))
    parts.extend(marked)  # drawn last, so their borders are not covered by neighbours
    parts.append("</svg>")
    return Drawn("".join(parts), missing)


def _thin(points: list[str]) -> list[str]:
    """Drop points that land on the same rounded position as the one before."""
    out = [points[0]] if points else []
    for p in points[1:]:
        if p != out[-1]:
            out.append(p)
    return out


def _mark(place: Place, shape: str) -> str:
    return f'<a href="{escape(place.href)}">{shape}</a>' if place.href else shape

