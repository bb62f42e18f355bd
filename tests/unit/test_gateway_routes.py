"""The local gateway routes by the OpenAPI document that API Gateway uses."""

from local.gateway import load_routes


def _backend_for(routes, method, path):
    for pattern, operations in routes:
        if pattern.match(path):
            return operations[method].backend if method in operations else "405"
    return "404"


def test_routes_follow_the_openapi_document():
    backends = {"events_url": "E", "upload_url_url": "U", "ingest_url": "I", "job_status_url": "J"}
    routes = load_routes(backends)
    assert _backend_for(routes, "POST", "/coatro/v1/pop/events") == "E"
    assert _backend_for(routes, "GET", "/coatro/v1/pop/events") == "405"
    assert _backend_for(routes, "POST", "/coatro/v1/pop/dynamic/bulk/upload-url") == "U"
    assert _backend_for(routes, "POST", "/coatro/v1/pop/dynamic/bulk/ingest") == "I"
    assert _backend_for(routes, "GET", "/coatro/v1/pop/dynamic/bulk/jobs/job-1") == "J"
    assert _backend_for(routes, "GET", "/coatro/v1/pop/dynamic/bulk/jobs/job-1/errors") == "J"
    assert _backend_for(routes, "GET", "/coatro/v1/pop/dynamic/bulk/jobs/a/b/c") == "404"


def test_operation_without_a_running_backend_is_marked():
    routes = load_routes({"events_url": "E"})
    assert _backend_for(routes, "POST", "/coatro/v1/pop/dynamic/bulk/ingest") is None


def test_canonical_bulk_and_schema_routes():
    backends = {"upload_url_url": "U", "ingest_url": "I", "job_status_url": "J", "schemas_url": "S"}
    routes = load_routes(backends)
    assert _backend_for(routes, "POST", "/coatro/v1/pop/bulk/upload-url") == "U"
    assert _backend_for(routes, "POST", "/coatro/v1/pop/bulk/ingest") == "I"
    assert _backend_for(routes, "GET", "/coatro/v1/pop/bulk/jobs/job-bulk-pop-1") == "J"
    assert _backend_for(routes, "GET", "/coatro/v1/pop/bulk/jobs/job-bulk-pop-1/errors") == "J"
    assert _backend_for(routes, "GET", "/coatro/v1/pop/dynamic/schemas") == "S"
    assert _backend_for(routes, "PUT", "/coatro/v1/pop/dynamic/schemas/cms-1") == "S"
    assert _backend_for(routes, "GET", "/coatro/v1/pop/dynamic/schemas/cms-1") == "S"
    assert _backend_for(routes, "POST", "/coatro/v1/pop/dynamic/schemas/cms-1/preview") == "S"
    # the literal path comes before /schemas/{version}: "preview" is no version
    assert _backend_for(routes, "POST", "/coatro/v1/pop/dynamic/schemas/preview") == "S"
    assert _backend_for(routes, "PUT", "/coatro/v1/pop/dynamic/schemas/preview") == "405"
    # and /screens/import before /screens/{screenId}: "import" is no screenId
    routes = load_routes({"screens_url": "SC"})
    assert _backend_for(routes, "POST", "/coatro/v1/pop/screens/import") == "SC"
    assert _backend_for(routes, "PUT", "/coatro/v1/pop/screens/import") == "405"
    assert _backend_for(routes, "PUT", "/coatro/v1/pop/screens/lobby") == "SC"


def test_each_operation_gets_its_deadline_or_the_documents_default():
    routes = load_routes({"events_url": "E"})
    deadlines = {
        (pattern.pattern, method): op.deadline for pattern, ops in routes for method, op in ops.items()
    }
    longer = {key: d for key, d in deadlines.items() if d != 60.0}
    assert len(deadlines) > 1 and longer == {("^/coatro/v1/pop/screens/import$", "POST"): 540.0}


def test_each_operation_carries_the_security_the_token_check_applies():
    routes = load_routes({})
    security = {
        (pattern.pattern, method): op.security for pattern, ops in routes for method, op in ops.items()
    }
    token = [s for (path, method), s in security.items() if "oauth/token" in path]
    assert token == [[]]  # the token endpoint authenticates the client itself
    console = [s for (path, method), s in security.items() if "console" in path]
    assert console == [[], []]  # the console's static files (its pages sign in from the browser)
    others = [s for (path, _), s in security.items() if "oauth/token" not in path and "console" not in path]
    assert others and all(s == [{"coatro_oauth2": []}, {}] for s in others)
