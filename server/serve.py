"""Run the app under gunicorn (placeholder: the engine issue adds the worker pool)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from gunicorn.app.base import BaseApplication


class _App(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], config: dict[str, Any]) -> None:
        self.options = options
        self.app_config = config
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from server import create_app

        return create_app(self.app_config)


def serve(args: argparse.Namespace) -> int:
    from server import config as defaults

    config = {k: getattr(defaults, k) for k in dir(defaults) if k.isupper()}
    if args.data:
        from graph.paths import ONTOLOGY_FILE

        config["DATA_PATHS"] = [str(ONTOLOGY_FILE), *args.data]
    if args.store:
        config["STORE_URL"] = args.store
    if args.timeout:
        config["QUERY_TIMEOUT_S"] = args.timeout
    workers = args.workers or max(2, os.cpu_count() or 1)
    options = {"bind": f"{args.host}:{args.port}", "workers": workers, "worker_class": "gthread",
               "threads": 4, "preload_app": True, "accesslog": None}
    _App(options, config).run()
    return 0
