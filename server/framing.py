"""What waitress answers itself, before the app sees a request: malformed or oversized framing.

A broken chunked body, a header block over MAX_HEADER_BYTES or a body over MAX_REQUEST_BYTES
is refused by waitress's parser; this gives those answers the app's form (problem+json, the
security and CORS headers) and one log line each, instead of waitress's plain-text page.
"""

from __future__ import annotations

import json
import logging

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from graph.formats import PROBLEM_JSON
from graph.namespaces import PROBLEMS
from server.errors import HTTP_TYPES
from server.http import CSP

log = logging.getLogger("rabat_kg.framing")


class ProblemErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's error answer as problem+json with our headers."""

    def execute(self) -> None:
        error = self.request.error
        detail = str(error.body).strip() or error.reason
        if error.code in (413, 431):
            detail = f"the request is over this server's limit ({detail}); a SPARQL query " \
                     "fits in a 64 KiB POST body"
        log.info("refused a malformed request from %s: %d %s: %s", self.channel.addr[0] if
                 self.channel.addr else "?", error.code, error.reason, detail[:200])
        body = json.dumps({"type": PROBLEMS + HTTP_TYPES.get(error.code, "bad-request"),
                           "title": error.reason, "status": error.code, "detail": detail}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([
            ("Content-Type", PROBLEM_JSON), ("Content-Security-Policy", CSP),
            ("X-Content-Type-Options", "nosniff"), ("Access-Control-Allow-Origin", "*"),
            ("Cache-Control", "no-store")])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class ProblemChannel(HTTPChannel):  # type: ignore[misc]
    error_task_class = ProblemErrorTask
