"""`GET /coatro/v1/pop/reports/delivery`: the caller's delivery report, a page at a time.

The body is a collection as ad platforms serve them:
`{"collection": {first_url, last_url, next_url, prev_url, per_page, size}, "result": [...], "status": 200}`,
where `size` counts the rows of every page and the links repeat every parameter of the request but
`page` (and never a credential). They are absolute at `COATRO_PUBLIC_BASE_URL` when it is set (a custom
domain), else at the host and scheme a gateway forwards (`X-Forwarded-Host`, `X-Forwarded-Proto`) when
both are valid; otherwise they are relative (`/coatro/v1/...?...`, resolved against the URL the caller
requested). Never at the request's own Host, which behind a gateway is this function's internal address
(shared/platform/origins.py).
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote, urlencode

from flask import Request, Response
from pydantic import BaseModel

from shared.auth import callers
from shared.platform.http import json_response
from shared.platform.origins import forwarded_origin
from shared.platform.settings import get_settings
from shared.reports.delivery import delivery_report
from shared.reports.params import DeliveryQuery, parse


class Collection(BaseModel):
    first_url: str
    last_url: str
    next_url: str | None
    prev_url: str | None
    per_page: int
    size: int


class DeliveryReport(BaseModel):
    collection: Collection
    result: list[dict[str, Any]]
    status: int = 200


PATH = "/coatro/v1/pop/reports/delivery"


def _base_url(request: Request) -> str:
    """The links' URL before the query: the report's path (whatever path reached the function), absolute
    when the public origin is known."""
    origin = get_settings().public_base_url or forwarded_origin(request.headers) or ""
    return origin + PATH


def _links(request: Request, query: DeliveryQuery, size: int) -> Collection:
    base = _base_url(request)
    kept = [
        (k, v)
        for k, v in request.args.items(multi=True)
        if k not in ("page", "per_page", *callers.CREDENTIAL_PARAMETERS)
    ]

    def url(page: int) -> str:  # filter%5Bdate%5D: RFC 3986 allows no [ ] in a query
        return (
            base
            + "?"
            + urlencode([*kept, ("page", page), ("per_page", query.per_page)], quote_via=quote, safe=",/")
        )

    last = max(1, math.ceil(size / query.per_page))
    return Collection(
        first_url=url(1),
        last_url=url(last),
        next_url=url(query.page + 1) if query.page < last else None,
        prev_url=url(min(query.page - 1, last)) if query.page > 1 else None,
        per_page=query.per_page,
        size=size,
    )


def delivery(request: Request) -> Response:
    tenant_id = callers.tenant_for(request, callers.REPORTS_READ)
    query = parse(request.args)
    rows, size = delivery_report(tenant_id, query)
    return json_response(200, DeliveryReport(collection=_links(request, query, size), result=rows))
