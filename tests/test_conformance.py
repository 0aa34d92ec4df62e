"""The conformance badge of entity pages: the live SHACL report of the served release."""

from __future__ import annotations

from graph.namespaces import entity_iri
from server import config, conformance, create_app


def test_a_view_uses_the_report_once_it_is_ready() -> None:
    """The first view starts the report (pending or ready, however fast the machine is); once
    it is ready, views use it. No bound on how long the validation takes here."""
    settings = {k: getattr(config, k) for k in dir(config) if k.isupper()}
    app = create_app(settings)
    togo = entity_iri("country", "togo")
    with app.test_request_context("/"):
        assert conformance.status_for(togo)["state"] in ("pending", "conforms")
        assert conformance.state().done.wait(600), "the validation never ended"
        status = conformance.status_for(togo)
    assert status["state"] == "conforms", status
