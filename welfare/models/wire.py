"""The direct transport both HTTP providers share: a JSON POST over one aiohttp session.

Each provider builds its body and reads its reply its own way; what they share is the
connection pool, timing and the order of failure handling (transport error, non-200 status,
body that is not a JSON object). The SDKs' own clients stay the default for anything the
wire does not cover; the wire only skips their per-request pydantic round trip, which costs
about a third of a request's CPU at high concurrency (benchmarks/bench_throughput.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from welfare.errors import ModelError, RetryableModelError
from welfare.models.base import Response

__all__ = ["JsonWire"]

StatusError = Callable[[int, bytes, Mapping[str, str]], ModelError]
TransportError = Callable[[BaseException], ModelError]
ReadResponse = Callable[..., Response]


class JsonWire:
    """POST JSON to one URL over one aiohttp session; the reply becomes a `Response`.

    `status_error(status, body, headers)` maps a non-200 reply, `transport_error(exc)` a
    failure to get one, `read(json_object, latency_s=…)` a 200 reply. The session belongs to
    the event loop that opened it; on another loop a new one is opened. Its repr never shows
    the headers (they hold the key).
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        timeout: float,
        limit: int,
        status_error: StatusError,
        transport_error: TransportError,
        read: ReadResponse,
    ) -> None:
        self._url = url
        self._headers = dict(headers)
        self._query = dict(query)
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))
        self._limit = limit
        self._status_error = status_error
        self._transport_error = transport_error
        self._read = read
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<JsonWire {self._url}>"

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, headers=self._headers
            )
            self._loop = loop
        return self._session

    async def post(self, body: Mapping[str, Any]) -> Response:
        """Send `body`; every failure is a ModelError (retryable where a retry can help)."""
        session = self._open()
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        start = time.monotonic()
        try:
            async with session.post(self._url, data=data, params=self._query or None) as reply:
                payload = await reply.read()
                status, headers = reply.status, reply.headers
        except Exception as exc:
            raise self._transport_error(exc) from exc
        if status != 200:
            raise self._status_error(status, payload, headers)
        try:
            message = json.loads(payload)
        except ValueError as exc:
            raise RetryableModelError(
                f"response is not JSON: {exc}", kind="malformed_response"
            ) from exc
        if not isinstance(message, dict):
            raise RetryableModelError("response is not a JSON object", kind="malformed_response")
        return self._read(message, latency_s=time.monotonic() - start)

    async def close(self) -> None:
        """Close the session if this loop opened it (a session cannot be closed elsewhere)."""
        session = self._session
        if session is not None and not session.closed and self._loop is asyncio.get_running_loop():
            await session.close()
        self._session = None
