"""`GET /coatro/v1/pop/reports/delivery`: the caller's delivery report, a page at a time.

The body is a collection as ad platforms serve them:
`{"collection": {first_url, last_url, next_url, prev_url, per_page, size}, "result": [...], "status": 200}`,
where `size` counts the rows of every page and the links are absolute URLs that repeat every
parameter of the request but `page` (and never a credential). They are built from the address the
caller used: `X-Forwarded-Host` / `X-Forwarded-Proto` when a gateway set them (API Gateway and the
local gateway do), else the request's own; `COATRO_PUBLIC_BASE_URL` overrides both (a custom domain).
"""

from __future__ import annotations

import math
from urllib.parse import quote, urlencode

from flask import Request, Response
from pydantic import BaseModel

from shared.auth import callers
from shared.platform.http import json_response
from shared.platform.settings import get_settings
from shared.reports.delivery import delivery_report
from shared.reports.params import CREDENTIAL_PARAMETERS, DeliveryQuery, parse


class Collection(BaseModel):
    first_url: str
    last_url: str
    next_url: str | None
    prev_url: str | None
    per_page: int
    size: int


class DeliveryReport(BaseModel):
    collection: Collection
    result: list[dict]
    status: int = 200


def _base_url(request: Request) -> str:
    configured = get_settings().public_base_url
    if configured:
        return configured.rstrip("/") + request.path
    host = (request.headers.get("X-Forwarded-Host") or request.host).split(",")[0].strip()
    proto = (request.headers.get("X-Forwarded-Proto") or request.scheme).split(",")[0].strip()
    return f"{proto}://{host}{request.path}"


def _links(request: Request, query: DeliveryQuery, size: int) -> Collection:
    base = _base_url(request)
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in ("page", "per_page", *CREDENTIAL_PARAMETERS)]

    def url(page: int) -> str:  # filter%5Bdate%5D: RFC 3986 allows no [ ] in a query
        return base + "?" + urlencode([*kept, ("page", page), ("per_page", query.per_page)], quote_via=quote, safe=",/")

    last = max(1, math.ceil(size / query.per_page))
    return Collection(
        first_url=url(1), last_url=url(last),
        next_url=url(query.page + 1) if query.page < last else None,
        prev_url=url(min(query.page - 1, last)) if query.page > 1 else None,
        per_page=query.per_page, size=size,
    )


def delivery(request: Request) -> Response:
    tenant_id = callers.tenant_for(request, callers.REPORTS_READ)
    query = parse(request.args)
    rows, size = delivery_report(tenant_id, query)
    return json_response(200, DeliveryReport(collection=_links(request, query, size), result=rows))
