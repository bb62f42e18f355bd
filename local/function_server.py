"""functions-framework as the local stack runs each function: its own command line, with one fix to
its request timeout.

Cloud Run ends a request after the service's timeout; functions-framework's gunicorn does the same
when given CLOUD_RUN_TIMEOUT_SECONDS and THREADED_TIMEOUT_ENABLED (see `local.stack.function_process`),
through its worker class `GThreadWorkerWithTimeoutSupport`. That class drops the return value of
gunicorn's `ThreadWorker.handle_request`, which says whether to keep the connection alive
(gunicorn 23: `self._keepalive_after(conn, self.handle_request(req, conn))`), so every connection was
closed after its first response while the response had promised keep-alive: the gateway's pooled
connections then failed at random (502 "RemoteProtocolError"). This keeps the timeout and returns
the value. The patch is made in the gunicorn master before it forks its workers, which inherit it.

    python -m local.function_server --target=events --source=functions/events/main.py --port=8101
"""

from __future__ import annotations

from functions_framework._cli import _cli
from functions_framework._http import gunicorn as ff_gunicorn
from functions_framework.request_timeout import ThreadingTimeout
from gunicorn.workers.gthread import ThreadWorker


def _handle_request(self, req, conn):
    with ThreadingTimeout(ff_gunicorn.TIMEOUT_SECONDS):
        return ThreadWorker.handle_request(self, req, conn)


ff_gunicorn.GThreadWorkerWithTimeoutSupport.handle_request = _handle_request

if __name__ == "__main__":
    _cli()
