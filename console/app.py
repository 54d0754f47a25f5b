"""The staff console: server-rendered pages for people, a JSON API for systems.

``python -m console`` serves it (loopback, port ``STAFF_PORT``, 5010 by default).
Pages and API are thin: they read the request, ask :mod:`buzon.staff` (which
decides who may see and do what) and render the answer. The OpenAPI document
of the API is ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import api, pages, reports

HERE = Path(__file__).resolve().parent

SECURITY_HEADERS = {
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'self'",
            "script-src 'none'",
            "style-src 'self'",
            "img-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    ),
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on
    # the console's own form posts, and the Origin check refuses them.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def create_app() -> FastAPI:
    app = FastAPI(
        title="IESS complaints and reports: staff console API",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(reports.api)
    app.include_router(pages.router)
    app.include_router(reports.pages)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):  # type: ignore[no-untyped-def]
        if error.status_code == 303 and error.headers and "Location" in error.headers:
            return RedirectResponse(error.headers["Location"], status_code=303)
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {"detail": error.detail},
                status_code=error.status_code,
                headers=getattr(error, "headers", None),
            )
        return pages.error_page(request, error.status_code)

    return app
