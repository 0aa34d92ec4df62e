"""View logic through Flask's test client on the in-process backend (no server, no processes).

What needs HTTP, processes and real clients is tested against a real server elsewhere; these
check what the views decide: negotiation, parameters, errors and the budget's arithmetic.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from server import create_app

JSON = "application/sparql-results+json"


@pytest.mark.parametrize("accept,media", [
    ("text/turtle", "text/turtle"), ("application/ld+json", "application/ld+json"),
    ("application/n-triples", "application/n-triples"), ("text/html", "text/html"),
    ("*/*", "text/html")])
def test_entity_documents_are_negotiated(client: FlaskClient, accept: str, media: str) -> None:
    r = client.get("/doc/country/togo", headers={"Accept": accept})
    assert r.status_code == 200 and r.mimetype == media
    assert "Accept" in r.headers.get("Vary", "")


def test_id_redirects_with_a_relative_location(client: FlaskClient) -> None:
    r = client.get("/id/country/togo", headers={"Accept": "text/turtle", "Host": "evil.example"})
    assert r.status_code == 303 and r.headers["Location"].startswith("/doc/country/togo")


def test_unknown_things_and_formats(client: FlaskClient) -> None:
    assert client.get("/doc/country/atlantis").status_code == 404
    r = client.get("/sparql", query_string={"query": "ASK {}"}, headers={"Accept": "text/plain"})
    assert r.status_code == 406 and b"application/sparql-results+json" in r.data  # the offers


@pytest.mark.parametrize("page", ["%C2%B2", "%D9%A2", "-1", "x"])
def test_a_numeric_parameter_is_one_strict_ascii_rule(client: FlaskClient, page: str) -> None:
    r = client.get(f"/search?class=Country&page={page}")
    assert r.status_code == 400
    assert r.get_json()["parameter"] == "page"


def test_health_answers_without_a_query(client: FlaskClient) -> None:
    doc = client.get("/health").get_json()
    assert doc["status"] == "ok" and doc["version"]


def test_the_budget_bills_store_time_and_answers_429(client: FlaskClient) -> None:
    app = create_app({"TESTING": True, "BUDGET_SECONDS": 0.001, "BUDGET_REFILL_PER_S": 0.001,
                      "BUDGET_REQUEST_COST_S": 1.0})
    c = app.test_client()
    assert c.get("/health").status_code == 200  # free: no store
    assert c.get("/sparql", query_string={"query": "ASK {}"}, headers={"Accept": JSON}).status_code == 200
    r = c.get("/sparql", query_string={"query": "ASK {}"}, headers={"Accept": JSON})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert c.get("/health").status_code == 200
