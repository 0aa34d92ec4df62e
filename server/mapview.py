"""The maps of the home page and of each country page: the graph's countries (graph/maps.py)
drawn as inline SVG (templates/worldmap.svg) on the vendored Natural Earth shapes, in the
reader's language, once per release and language (and country).

Drawn on the server because the map is the same for every reader of a release: no script (the
strict CSP stays), no JavaScript library to vendor. The shapes are world-atlas's TopoJSON in
plate carrée, longitudes narrowed by cos 35° (a fair look for Europe and Africa). Countries are
matched by code, never by name: the graph's alpha-3 code gives the numeric code (the shapes'
ids) through the vendored ISO table, whose alpha-2 must agree with the graph's. A country too
small for the 1:110m shapes is a dot at the centre of its 1:50m shape; one without a code or
shape is listed under the map.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from itertools import accumulate, groupby
from pathlib import Path
from typing import Any

from flask import render_template
from markupsafe import Markup

from graph import describe as d
from graph.maps import MAP_QUERY, CountryOnMap, Linked, countries_on_map, domains_with_reference_countries
from server import i18n, site
from server.state import get_backend

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
ATLAS = VENDOR / "world-atlas"
ISO_CODES = VENDOR / "i18n-iso-countries" / "codes.json"
X_SCALE = math.cos(math.radians(35))
WIDTH = 1000.0
MARGIN_DEG = 3.0
REGION_DEG = 12.0  # around the country of a country page

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat


@dataclass(frozen=True)
class Shape:
    """One country of the atlas: its rings (lon, lat), the box around them, and the box of its
    largest ring (France without French Guiana, Norway without Svalbard), which a view frames
    so a map of Europe and Africa is not stretched to South America."""

    rings: tuple[tuple[Point, ...], ...]
    box: Box
    main_box: Box


def _ring_area(ring: Iterable[Point]) -> float:
    pts = list(ring)
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(pts, pts[1:] + pts[:1], strict=True))) / 2


def _box(points: Iterable[Point]) -> Box:
    lons, lats = zip(*points, strict=True)
    return min(lons), min(lats), max(lons), max(lats)


def _decode(topology: dict) -> dict[str, Shape]:  # type: ignore[type-arg]
    """Country shapes by numeric id from a TopoJSON topology (quantized, delta-encoded arcs)."""
    sx, sy = topology["transform"]["scale"]
    tx, ty = topology["transform"]["translate"]

    def positions(arc: list[list[int]]) -> list[Point]:
        """An arc's deltas summed into positions, scaled and translated to (lon, lat)."""
        xs, ys = accumulate(dx for dx, _ in arc), accumulate(dy for _, dy in arc)
        return [(x * sx + tx, y * sy + ty) for x, y in zip(xs, ys, strict=True)]

    arcs = [positions(arc) for arc in topology["arcs"]]

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
        shapes[str(geom["id"])] = Shape(rings, _box(p for r in rings for p in r),
                                        _box(max(rings, key=_ring_area)))
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
    num, a2 = iso_numeric().get(alpha3 or "", (None, None))
    return num if alpha2 in (None, a2) else None


def _shape(code: str | None) -> Shape | None:
    """The country's 1:110m shape, or its 1:50m one if it is too small for that scale."""
    return shapes("110m").get(code or "") or shapes("50m").get(code or "")


@dataclass
class Place:
    """A country to draw: its numeric code, how it is shown (CSS classes), where it links, its tooltip."""

    code: str | None
    classes: tuple[str, ...]
    href: str | None
    title: str


def draw(places: list[Place], label: str, *, regional: bool = False) -> tuple[str, list[Place]]:
    """An SVG map of every atlas country, the places filled by their classes, and the places
    that could not be drawn. The view spans all places, or with `regional` the focus and its
    region (REGION_DEG around it, so even a small country shows)."""
    atlas = shapes("110m")
    by_code = {p.code: p for p in places if p.code and _shape(p.code)}
    missing = [p for p in places if p.code not in by_code]
    framed = [_shape(p.code) for p in places if not regional or "focus" in p.classes]
    boxes = [shape.main_box for shape in framed if shape] or [(-20.0, -35.0, 50.0, 70.0)]
    margin = REGION_DEG if regional else MARGIN_DEG
    west_lons, south_lats, east_lons, north_lats = zip(*boxes, strict=True)
    west, east = min(west_lons) - margin, max(east_lons) + margin
    south, north = max(min(south_lats) - margin, -85.0), min(max(north_lats) + margin, 85.0)
    if regional:  # at least 4:3, so a narrow country keeps its region
        extra = (4 / 3 * (north - south) - (east - west) * X_SCALE) / X_SCALE / 2
        west, east = (west - extra, east + extra) if extra > 0 else (west, east)
    k = WIDTH / ((east - west) * X_SCALE)
    height = (north - south) * k

    def xy(p: Point) -> str:
        return f"{(p[0] - west) * X_SCALE * k:.0f},{(north - p[1]) * k:.0f}"

    def visible(box: Box) -> bool:
        return box[2] >= west and box[0] <= east and box[3] >= south and box[1] <= north

    land: list[str] = []
    marked: list[dict[str, object]] = []
    for code, shape in sorted(atlas.items()):
        if not visible(shape.box):
            continue
        # points that round to the same position as the one before are dropped
        d = "".join("M" + "L".join(p for p, _ in groupby(map(xy, ring))) + "Z" for ring in shape.rings)
        if code in by_code:
            marked.append({"place": by_code[code], "code": code, "d": d})
        else:
            land.append(d)
    for code, place in sorted(by_code.items()):
        if code not in atlas:  # a dot at the centre of its 1:50m shape
            box = shapes("50m")[code].main_box
            cx, cy = xy(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)).split(",")
            marked.append({"place": place, "code": code, "cx": cx, "cy": cy})
    svg = render_template("worldmap.svg", width=round(WIDTH), height=round(height), label=label, land=land,
                          marked=marked)
    return svg, missing


def _countries() -> dict[str, CountryOnMap]:
    return site.per_version("map-countries",
                            lambda: countries_on_map(get_backend().select(MAP_QUERY, lane="light")))


def _name(thing: Linked | CountryOnMap, lang: str) -> str:
    """Its label in `lang` (or a fallback language), else its IRI's local name."""
    return d.label_in(thing.labels, lang) or d.local_name(thing.iri)


def _domain_name(domain: Linked, lang: str) -> str:
    if domain.number is not None:
        return i18n.translate("map.domain", lang, n=domain.number)
    return _name(domain, lang)


def _place(c: CountryOnMap, lang: str, focus: str | None) -> Place:
    classes = [name for name, on in (("partner", c.partner), ("observer", c.observer),
                                     ("reference", bool(c.domains)), ("focus", c.iri == focus)) if on]
    facts = [i18n.translate(f"map.{k}", lang) for k in classes if k in ("partner", "observer")]
    if c.domains:
        facts.append(i18n.translate("map.reference_of", lang) + " "
                     + ", ".join(_domain_name(x, lang) for x in sorted(
                         c.domains.values(), key=lambda x: (x.number or 0, x.iri))))
    if c.activities:
        facts.append(i18n.translate("map.activities", lang, n=len(c.activities)))
    return Place(numeric_code(c.alpha3, c.alpha2), tuple(classes), site.local_href(c.iri),
                 _name(c, lang) + (": " + "; ".join(facts) if facts else ""))


def home_map(lang: str) -> dict[str, Any]:
    """Partners, observers and the reference countries of each domain."""
    def compute() -> dict[str, Any]:
        countries = _countries()
        svg, missing = draw([_place(c, lang, None) for c in countries.values()],
                            i18n.translate("map.title", lang))
        domains = [{"name": _domain_name(dom, lang), "title": d.label_in(dom.labels, lang) or "",
                    "href": site.local_href(dom.iri),
                    "countries": [{"text": _name(countries[c], lang), "href": site.local_href(c)}
                                  for c in members]}
                   for dom, members in domains_with_reference_countries(countries)]
        return {"svg": Markup(svg), "missing": [p.title for p in missing], "domains": domains,
                "partners": sum(c.partner for c in countries.values()),
                "observers": sum(c.observer for c in countries.values())}
    return site.per_version(f"home-map.{lang}", compute)


def country_map(iri: str, lang: str) -> dict[str, Any] | None:
    """The country highlighted among the others, with its activities; None for a country the
    graph gives no code for (nothing to place)."""
    def compute() -> dict[str, Any] | None:
        countries = _countries()
        country = countries.get(iri)
        if country is None or _shape(numeric_code(country.alpha3, country.alpha2)) is None:
            return None
        svg, _ = draw([_place(c, lang, iri) for c in countries.values()],
                      _name(country, lang), regional=True)
        activities = sorted(({"text": _name(a, lang), "href": site.local_href(a.iri)}
                             for a in country.activities.values()), key=lambda a: str(a["text"]).lower())
        return {"svg": Markup(svg), "activities": activities}
    return site.per_version_lru(f"country-map.{lang}", iri, compute)
