"""The HTTP face of :class:`~autotag.serve.service.Service` (FastAPI on uvicorn).

Routes: ``GET /`` (the page), ``GET /health``, ``GET /model``, ``POST /tag``, ``POST /similar``.
Every error is JSON, ``{"error": "<what went wrong, naming the file or field>", "code": "..."}``,
with a 4xx status for what the client sent; an unexpected failure is a 500 of the same shape
and the service goes on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from autotag.serve.errors import Rejected
from autotag.serve.service import Service
from autotag.serve.uploads import BodyLimit, form_of, saved_upload

log = logging.getLogger("autotag.serve")


def build_app(service: Service) -> FastAPI:
    """The app; the service starts with it (decoding processes, model thread) and closes after
    the last request in flight has its answer."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(title="autotag", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.add_middleware(BodyLimit, limit=service.settings.max_upload_bytes)
    app.state.service = service
    page = files("autotag.serve").joinpath("page.html").read_text(encoding="utf-8")
    limit = service.settings.max_upload_bytes

    @app.exception_handler(Rejected)
    async def rejected(request: Request, e: Rejected) -> JSONResponse:
        service.rejected += 1
        return JSONResponse(e.as_json(), status_code=e.status)

    @asynccontextmanager
    async def admitted(request: Request) -> AsyncIterator[None]:
        """At most ``max_pending`` uploads at once (503 beyond): a burst cannot queue work and
        temporary files without bound."""
        if service.pending >= service.settings.max_pending:
            raise Rejected(
                503,
                "busy",
                f"{service.pending} uploads in progress, this service's limit; retry shortly",
            )
        service.pending += 1
        try:
            yield
        finally:
            service.pending -= 1

    async def predict(request: Request, upload):
        if await request.is_disconnected():  # sent it all, then left: no work for nobody
            raise Rejected(400, "disconnected", f"{upload.name}: the client left")
        return await service.predict(upload)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        return JSONResponse(
            {
                "error": f"{request.method} {request.url.path}: {e.detail}",
                "code": f"http_{e.status_code}",
            },
            status_code=e.status_code,
        )

    @app.exception_handler(RequestValidationError)
    async def bad_params(request: Request, e: RequestValidationError) -> JSONResponse:
        what = "; ".join(
            f"{'.'.join(str(x) for x in err['loc'][1:])}: {err['msg']}" for err in e.errors()
        )
        service.rejected += 1
        return JSONResponse({"error": what, "code": "bad_parameter"}, status_code=422)

    @app.exception_handler(Exception)
    async def failure(request: Request, e: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(
            {"error": f"internal error ({type(e).__name__}: {e})", "code": "internal"},
            status_code=500,
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/health")
    async def health() -> dict:
        """Liveness, the model's name and checksum, and counters."""
        return service.health_json()

    @app.get("/model")
    async def model() -> dict:
        """The model: name, file checksum, tags and thresholds, features, windowing, index."""
        return service.model_json()

    @app.post("/tag")
    async def tag(request: Request, embedding: bool = Query(False)) -> dict:
        """Tags of an uploaded song (multipart field ``file``): every tag with its probability,
        threshold and whether it is present, most probable first; ``?embedding=true`` adds the
        song's embedding."""
        async with admitted(request):
            form = await form_of(request)
            try:
                async with saved_upload(form, service.temp_dir, limit) as upload:
                    song = await predict(request, upload)
            finally:
                await form.close()
        service.served += 1
        return service.tag_json(upload.name, song, embedding)

    @app.post("/similar")
    async def similar(
        request: Request,
        n: int = Query(10, ge=1, le=1000),
        id: str | None = Query(None, description="a catalogue song's id or stored path"),
    ) -> dict:
        """The catalogue's songs nearest to an uploaded song (field ``file``; its tags come
        too) or to a catalogue song (``id``, as a query parameter or a form field)."""
        if service.index is None:
            raise Rejected(
                404, "no_index", "this service has no song index (start it with --index)"
            )
        async with admitted(request):
            form = await form_of(request) if id is None else None
            try:
                song_id = id if form is None else form.get("id")
                if isinstance(song_id, str):
                    row = service.find(song_id)
                    # exact search reads every embedding: off the event loop
                    found = await run_in_threadpool(service.neighbours, service.vector(row), n, row)
                    service.served += 1
                    return {"query": {"id": song_id, "in_index": True}, "results": found}
                async with saved_upload(form, service.temp_dir, limit) as upload:
                    song = await predict(request, upload)
            finally:
                if form is not None:
                    await form.close()
            assert song.embedding is not None
            found = await run_in_threadpool(service.neighbours, song.embedding, n)
        service.served += 1
        query = {**service.tag_json(upload.name, song), "in_index": False}
        return {"query": query, "results": found}

    return app
