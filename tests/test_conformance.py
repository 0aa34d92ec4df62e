"""The conformance badge of entity pages: the live SHACL report of the served release."""

from __future__ import annotations

from graph.namespaces import entity_iri
from server import config, conformance, create_app


def test_first_view_shows_the_report_once_it_is_ready() -> None:
    """The first page view starts the report and waits briefly for it: it must then use it."""
    settings = {k: getattr(config, k) for k in dir(config) if k.isupper()}
    app = create_app(settings)
    with app.test_request_context("/"):
        status = conformance.status_for(entity_iri("country", "togo"))
    assert status["state"] == "conforms", status
