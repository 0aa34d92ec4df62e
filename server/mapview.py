"""The maps of the home page and of each country page, in the reader's language: the graph's
countries (graph/maps.py) as places to draw (server/worldmap.py), with the legend and the list
of what could not be drawn. Computed once per release and language (and country)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from graph import describe as d
from graph.maps import MAP_QUERY, CountryOnMap, countries_on_map, domains_with_reference_countries
from server import i18n, site
from server.state import get_backend
from server.worldmap import Place, draw


def _countries() -> dict[str, CountryOnMap]:
    return site.per_version("map-countries",
                            lambda: countries_on_map(get_backend().select(MAP_QUERY, lane="light")))


def _name(labels: dict[str, list[str]], lang: str, fallback: str) -> str:
    picked = d.pick_label(labels, lang)
    return picked[0] if picked else fallback


def _domain_name(domain: Any, lang: str) -> str:
    if domain.number is not None:
        return i18n.translate("map.domain", lang, n=domain.number)
    return _name(domain.labels, lang, d.local_name(domain.iri))


def _place(c: CountryOnMap, lang: str, focus: str | None) -> Place:
    classes = [name for name, on in (("partner", c.partner), ("observer", c.observer),
                                     ("reference", bool(c.domains)), ("focus", c.iri == focus)) if on]
    name = _name(c.labels, lang, d.local_name(c.iri))
    facts = [i18n.translate(f"map.{k}", lang) for k in classes if k in ("partner", "observer")]
    if c.domains:
        facts.append(i18n.translate("map.reference_of", lang) + " "
                     + ", ".join(_domain_name(x, lang) for x in sorted(
                         c.domains.values(), key=lambda x: (x.number or 0, x.iri))))
    if c.activities:
        facts.append(i18n.translate("map.activities", lang, n=len(c.activities)))
    return Place(c.alpha3, c.alpha2, tuple(classes), site.local_href(c.iri),
                 name + (": " + "; ".join(facts) if facts else ""))


def home_map(lang: str) -> dict[str, Any]:
    """Partners, observers and the reference countries of each domain."""
    def compute() -> dict[str, Any]:
        countries = _countries()
        drawn = draw([_place(c, lang, None) for c in countries.values()],
                     label=i18n.translate("map.title", lang))
        domains = [{"name": _domain_name(dom, lang), "title": _name(dom.labels, lang, ""),
                    "href": site.local_href(dom.iri),
                    "countries": [{"text": _name(countries[c].labels, lang, d.local_name(c)),
                                   "href": site.local_href(c)} for c in members]}
                   for dom, members in domains_with_reference_countries(countries)]
        return {"svg": Markup(drawn.svg), "missing": [p.title for p in drawn.missing], "domains": domains,
                "partners": sum(c.partner for c in countries.values()),
                "observers": sum(c.observer for c in countries.values())}
    return site.per_version(f"home-map.{lang}", compute)


def country_map(iri: str, lang: str) -> dict[str, Any] | None:
    """The country highlighted among the others, with its activities; None for a country the
    graph gives no code for (nothing to place)."""
    def compute() -> dict[str, Any] | None:
        countries = _countries()
        country = countries.get(iri)
        if country is None:
            return None
        places = [_place(c, lang, iri) for c in countries.values()]
        # the country and its region (12 degrees around it), so even a small country shows
        drawn = draw(places, focus_box_of=[p for p in places if "focus" in p.classes], margin=12.0,
                     label=_name(country.labels, lang, d.local_name(iri)))
        if any(p.href == site.local_href(iri) for p in drawn.missing):
            return None
        activities = sorted(({"text": _name(a.labels, lang, d.local_name(a.iri)),
                              "href": site.local_href(a.iri)} for a in country.activities.values()),
                            key=lambda a: str(a["text"]).lower())
        return {"svg": Markup(drawn.svg), "activities": activities}
    return site.per_version_lru(f"country-map.{lang}", iri, compute)
