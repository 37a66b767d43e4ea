"""The server's Prometheus metrics (`GET /metrics`, text format), kept in a registry of the app's own."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServerMetrics:
    """Requests by route and status, errors (4xx and 5xx) by route, latency by route, batch sizes by model,
    inputs waiting (queue depth)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("captra_requests", "requests answered, by route and HTTP status",
                                ["route", "status"], registry=self.registry)
        self.errors = Counter("captra_errors", "requests answered with a 4xx or 5xx status, by route",
                              ["route"], registry=self.registry)
        self.latency = Histogram("captra_request_latency_seconds", "time from request to response, by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("captra_batch_size", "inputs decoded together, by model", ["model"],
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("captra_queue_depth", "inputs waiting to be decoded", registry=self.registry)


class MetricsMiddleware:
    """Counts every HTTP request: API routes under their path, everything else as "other" (so unknown paths
    cannot grow the label set)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, paths: set[str]) -> None:
        self.app, self.metrics, self.paths = app, metrics, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"] if scope["path"] in self.paths else "other"
        started, status = time.perf_counter(), 499  # 499 (nginx's "client closed the request"): nothing was answered

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        except BaseException:
            status = 500 if status == 499 else status
            raise
        finally:
            self.metrics.requests.labels(route, str(status)).inc()
            if status >= 400 and status != 499:
                self.metrics.errors.labels(route).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
