"""rabat-kg web server: the only Flask code. Reaches data only through `graph`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graph.engine.base import Backend
from server import config

if TYPE_CHECKING:  # Flask is imported by the factory: `rabat-kg serve` starts the release's
    from flask import Flask  # build first and imports Flask while it runs


def create_app(test_config: Mapping[str, Any] | None = None, *,
               backend: Backend | None = None) -> Flask:
    """Application factory: config, the backend, HTTP policies, then the blueprints."""
    from flask import Flask

    app = Flask(__name__)
    # Never answer `//x` with a 308 whose Location is built from the Host header.
    app.url_map.merge_slashes = False
    app.config.from_object("server.config")
    app.config.from_mapping(config.from_environment() if test_config is None else test_config)
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]

    from server import budget, dataset, errors, http, pages, sparql, state, stored

    state.init_app(app, backend)
    http.init_app(app)
    budget.init_app(app)
    errors.init_app(app)
    app.register_blueprint(sparql.bp)
    app.register_blueprint(stored.bp)
    app.register_blueprint(dataset.bp)
    app.register_blueprint(pages.bp)
    return app
