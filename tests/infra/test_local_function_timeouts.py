"""Each local function process gets the request timeout its Cloud Run service has (infra/functions.tf)."""

from __future__ import annotations

from functions import function_names


def test_every_local_function_runs_with_its_terraform_timeout(infra):
    from local.stack import function_process

    terraform = {name: spec["timeout"] for name, spec in infra.locals["functions"].items()}
    assert set(terraform) == set(function_names())
    for name in function_names():
        argv, env = function_process(name, port=8000)
        assert f"--target={name}" in argv
        # functions-framework's own variables: its gunicorn ends a request that runs longer (Cloud Run sets the first).
        assert env["CLOUD_RUN_TIMEOUT_SECONDS"] == str(terraform[name]), name
        assert env["THREADED_TIMEOUT_ENABLED"] == "true"
    assert function_process("worker", port=8000)[1]["WORKERS"] == "2"
