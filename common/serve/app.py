"""The server's FastAPI application: one `POST /v1/{route}` per served endpoint, the model cards, health, metrics
and the web page, behind a body limit, an optional API key and errors that are always `{"error": "..."}`."""

from __future__ import annotations

import asyncio
import hmac
import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import captra
from captra.common.serve.batcher import DynamicBatcher, QueueFull, Stopped
from captra.common.serve.endpoint import RequestError, Upload
from captra.common.serve.limits import Batching, Limits
from captra.common.serve.metrics import MetricsMiddleware, ServerMetrics
from captra.common.serve.models import ServedModel

PAGE = Path(__file__).resolve().parent / "page"
API_VERSION = "v1"


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class BodyLimit:
    """Refuses (413) a request body over `max_bytes` before anything parses it, whether its length is declared
    or it arrives in chunks; the body read is handed on whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client has gone: nobody to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error(413, f"the request body is larger than the limit of {self.max_bytes} bytes (--max-body-bytes)")
        await response(scope, receive, send)


def create_app(models: list[ServedModel], limits: Limits = Limits(), batching: Batching = Batching(),
               api_key: str | None = None, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The application serving `models` (several of one route: chosen by `?model=NAME`, the first by default).
    `allowed_hosts`: the Host headers answered (the others get 400), e.g. the loopback names for a server bound to
    loopback, so that a web page elsewhere cannot reach it by DNS rebinding; None: any."""
    if not models:
        raise ValueError("nothing to serve: give at least one checkpoint")
    if len({model.name for model in models}) < len(models):
        raise ValueError(f"two served models share a name: {[model.name for model in models]}")
    metrics = ServerMetrics()
    batchers: dict[str, DynamicBatcher] = {}
    routes: dict[str, list[ServedModel]] = {}
    for model in models:
        routes.setdefault(model.endpoint.route, []).append(model)
    for route, served in routes.items():
        if any(model.endpoint != served[0].endpoint for model in served):
            raise ValueError(f"two tasks declare the route /{API_VERSION}/{route}: serve one of them")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for model in models:
            batchers[model.name] = DynamicBatcher(
                model.decode, batching.max_batch, batching.max_wait_ms / 1000, limits.max_queue,
                on_batch=lambda size, name=model.name: metrics.batch_size.labels(name).observe(size))
        metrics.queue_depth.set_function(lambda: sum(batcher.queued_inputs for batcher in batchers.values()))
        yield
        for batcher in batchers.values():  # uvicorn has let the requests in flight finish; end the workers
            await asyncio.to_thread(batcher.stop)

    app = FastAPI(title="captra", version=captra.__version__, lifespan=lifespan,
                  description="Recurrent sequence models served: " + ", ".join(f"`POST /{API_VERSION}/{route}`" for route in routes)
                              + ". Errors are JSON objects `{\"error\": \"...\"}` that name the problem.")
    bearer = HTTPBearer(auto_error=False, description="the server's API key (`captra serve --api-key`)")

    def authorise(credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        if api_key is None:
            return
        if credentials is None:
            raise StarletteHTTPException(401, "this server needs an API key: send the header Authorization: Bearer KEY")
        if not hmac.compare_digest(credentials.credentials.encode(), api_key.encode()):
            raise StarletteHTTPException(401, "wrong API key")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: f"no such route: {request.method} {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else getattr(exc, "headers", None)
        return error(exc.status_code, message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, describe_validation(exc.errors()))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(PAGE / "index.html")

    app.mount("/page", StaticFiles(directory=PAGE), name="page")

    @app.get("/health", summary="liveness: the server answers and every model's decoding worker runs (503 if not)")
    async def health() -> JSONResponse:
        stopped = [name for name, batcher in batchers.items() if not batcher.alive]
        if stopped:
            return JSONResponse({"status": "unavailable", "models": [m.name for m in models], "stopped": stopped}, 503)
        return JSONResponse({"status": "ok", "models": [model.name for model in models]})

    @app.get(f"/{API_VERSION}/models", summary="the served models: task, route, checkpoints, vocabularies, search "
             "settings, provenance", dependencies=[Security(authorise)])
    async def model_cards() -> dict[str, Any]:
        return {"models": [model.card for model in models]}

    @app.get("/metrics", summary="Prometheus metrics: requests, errors, latency, batch sizes, queue depth",
             dependencies=[Security(authorise)])
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for route, served in routes.items():
        add_route(app, route, served, limits, batchers, authorise)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.add_middleware(MetricsMiddleware, metrics=metrics, paths={f"/{API_VERSION}/{route}" for route in routes})
    return app


def add_route(app: FastAPI, route: str, served: list[ServedModel], limits: Limits,
              batchers: dict[str, DynamicBatcher], authorise: Any) -> None:
    """`POST /v1/{route}` for the models `served` (all of one endpoint)."""
    endpoint = served[0].endpoint
    by_name = {model.name: model for model in served}
    schema = endpoint.request_model.model_json_schema()
    content = {"application/json": {"schema": schema}}
    if endpoint.upload_field is not None:
        form = {**schema, "properties": {**schema.get("properties", {}), endpoint.upload_field: {
            "type": "array", "items": {"type": "string", "format": "binary"}}}}
        content["multipart/form-data"] = {"schema": form}

    async def answer(request: Request, model: str | None = None) -> JSONResponse:
        if model is not None and model not in by_name:
            return error(404, f"no model {model!r} serves /{API_VERSION}/{route}; served: {', '.join(by_name)}")
        chosen = by_name[model] if model is not None else served[0]
        try:
            options, uploads = await read_request(request, endpoint.request_model, endpoint.upload_field, limits)
            inputs = await run_in_threadpool(endpoint.prepare, chosen.module, options, uploads, limits)
            settings = endpoint.settings(chosen.module, options, limits)
        except RequestError as refused:
            return error(refused.status, str(refused))
        try:
            nbests = await batchers[chosen.name].submit(inputs, chosen.batch_key(settings))
        except QueueFull as full:
            return error(503, f"the server is busy ({full}); retry later", {"Retry-After": "1"})
        except Stopped as stopped:
            return error(503, str(stopped), {"Retry-After": "5"})
        except Exception as failure:  # noqa: BLE001 - a failed batch fails its requests, the server goes on
            return error(500, f"decoding failed: {type(failure).__name__}: {failure}")
        return await run_in_threadpool(render, chosen, inputs, nbests, options)

    answer.__name__ = route
    app.post(f"/{API_VERSION}/{route}", summary=endpoint.summary, dependencies=[Security(authorise)],
             openapi_extra={"requestBody": {"required": True, "content": content}})(answer)


def render(model: ServedModel, inputs: list[Any], nbests: list[list[Any]], options: Any) -> JSONResponse:
    """The answer to a decoded request (in a worker thread: results with attention can be large)."""
    results = [model.endpoint.respond(model.module, item, nbest, options) for item, nbest in zip(inputs, nbests)]
    try:
        return JSONResponse({"model": model.name, "results": results})
    except ValueError as unserialisable:  # e.g. a NaN a task's respond let through
        return error(500, f"the answer could not be written as JSON: {unserialisable}")


async def read_request(request: Request, model: Any, upload_field: str | None, limits: Limits) -> tuple[Any, list[Upload]]:
    """The request's options (validated by the endpoint's model) and its uploaded files."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    uploads: list[Upload] = []
    if kind == "multipart/form-data" and upload_field is not None:
        try:
            form = await request.form(max_files=limits.max_inputs, max_fields=32)
        except StarletteHTTPException as refused:  # too many files or fields, or a malformed body
            status = 413 if "Too many files" in str(refused.detail) else refused.status_code
            hint = f" (at most {limits.max_inputs} files: --max-inputs)" if status == 413 else ""
            raise RequestError(f"multipart body refused: {refused.detail}{hint}", status) from refused
        try:
            fields: dict[str, Any] = {}
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    uploads.append(Upload(key, value.filename or f"{key}[{len(uploads)}]", await value.read()))
                else:
                    fields[key] = value
        finally:
            await form.close()
        unexpected = sorted({upload.field for upload in uploads} - {upload_field})
        if unexpected:
            raise RequestError(f"files are accepted in the form field {upload_field!r} only (got {', '.join(unexpected)})")
    elif kind == "application/json":
        fields = await run_in_threadpool(parse_json, await request.body())
    else:
        accepted = "application/json" + (" or multipart/form-data" if upload_field else "")
        raise RequestError(f"unsupported content type {kind or '(none)'!r}; send {accepted}", 415)
    try:
        return model.model_validate(fields), uploads
    except ValidationError as invalid:
        raise RequestError(describe_validation(invalid.errors())) from invalid


def parse_json(body: bytes) -> dict[str, Any]:
    """A request body that must be a UTF-8 JSON object."""
    try:
        fields = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as bad:
        raise RequestError(f"the body is not UTF-8 (byte {bad.start}: {bad.reason})", 400) from bad
    except json.JSONDecodeError as bad:
        raise RequestError(f"the body is not valid JSON: {bad.msg} at line {bad.lineno} column {bad.colno}", 400) from bad
    except (RecursionError, ValueError) as bad:  # nested too deeply, or a number too long to convert
        raise RequestError(f"the body is not JSON this server reads: {type(bad).__name__}: {bad}", 400) from bad
    if not isinstance(fields, dict):
        raise RequestError(f"the body must be a JSON object, not {type(fields).__name__}")
    return fields


def describe_validation(errors: Any) -> str:
    """pydantic's errors in one line: `field.index: problem; ...`."""
    parts = []
    for item in errors:
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "body") or "body"
        parts.append(f"{location}: {item.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)
