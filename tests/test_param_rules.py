"""Parameter rules (graph/queries.py): one strict ASCII rule for the app's numeric query
parameters (`whole_number`: `str.isdigit` takes `²`, then `int` fails with a 500, and `int` takes
`٢` as 2), and where the short form of an IRI parameter is resolved (`short_base`)."""

from __future__ import annotations

import pytest
import requests

from graph.errors import ParameterError
from graph.queries import Param, short_base, short_name, to_term, whole_number


@pytest.mark.parametrize("raw", ["1", "42", "100000", "007"])
def test_ascii_whole_numbers_in_range_pass(raw: str) -> None:
    assert whole_number(raw, "page", 1, 100_000) == int(raw)


@pytest.mark.parametrize("raw", ["²", "\u0662", "\uff12", "2\n", " 2", "+2", "-1", "0", "100001", "2.0",
                                 "1e3", "", "9" * 40])
def test_everything_else_is_a_400_naming_the_parameter(raw: str) -> None:
    with pytest.raises(ParameterError) as caught:
        whole_number(raw, "page", 1, 100_000)
    assert caught.value.status == 400 and "'page'" in caught.value.detail


@pytest.mark.parametrize("page", ["%C2%B2", "%D9%A2", "%EF%BC%92", "2%0A", "0", "x"])
def test_search_refuses_a_page_that_is_not_ascii_digits(base_url: str, page: str) -> None:
    r = requests.get(f"{base_url}/search?class=Country&page={page}",
                     headers={"Accept": "application/json"}, timeout=30)
    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["parameter"] == "page"


def test_search_pages_still_turn(base_url: str) -> None:
    first = requests.get(f"{base_url}/search?class=Country&page=1&format=json", timeout=30)
    second = requests.get(f"{base_url}/search?class=Country&page=2&format=json", timeout=30)
    assert first.status_code == second.status_code == 200
    assert second.json()["page"] == 2
    assert {r["iri"] for r in first.json()["results"]}.isdisjoint(r["iri"] for r in second.json()["results"])


def test_the_short_form_base_is_the_namespace_the_header_iris_share() -> None:
    country = "https://w3id.org/rabat-kg/id/country/"
    assert short_base([country + "togo", country + "cameroon"]) == country
    assert short_base([country + "togo"]) == country
    assert short_base([country + "togo", "https://w3id.org/rabat-kg/id/programme/mmd"]) == \
        "https://w3id.org/rabat-kg/id/"
    assert short_base(["https://w3id.org/rabat-kg/def/Country"]) == "https://w3id.org/rabat-kg/def/"
    # Only inside our IRI space, and never the bare base (every IRI of ours would be "short").
    assert short_base(["https://example.org/x", "https://example.org/y"]) is None
    assert short_base(["https://w3id.org/rabat-kg/id", "https://w3id.org/rabat-kg/def"]) is None
    assert short_base([]) is None


def test_short_and_full_forms_name_the_same_term() -> None:
    base = "https://w3id.org/rabat-kg/id/country/"
    param = Param("country", "iri")
    assert to_term(param, "togo", base) == to_term(param, base + "togo", base) == f"<{base}togo>"
    assert short_name(base, base + "togo") == "togo"
    assert short_name(base, "https://example.org/togo") == "https://example.org/togo"
    assert short_name(None, base + "togo") == base + "togo"
    with pytest.raises(ParameterError):
        to_term(param, "togo")  # no base: only absolute IRIs
