"""The frames between the invocation gateway and a model's serving process (Django-free).

One connection carries many requests at once (each frame names its request), so a gateway
process keeps a single connection per serving process and the serving process sees concurrent
requests together, which is what lets it batch them.

    request:  !IIH  request id, body length, meta length   then meta (JSON), body
    response: !IIHH request id, body length, meta length, status   then meta (JSON), body

``meta`` of a request: ``ct`` (Content-Type), ``accept``, ``attrs`` (custom attributes), ``id``
(inference id), ``op`` ("invoke" or "ping"). Of a response: ``ct``, ``attrs``, ``ms`` (model
milliseconds), ``error``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from dataclasses import dataclass, field

REQUEST_HEAD = struct.Struct("!IIH")
RESPONSE_HEAD = struct.Struct("!IIHH")

OK = 200
CLIENT_ERROR = 400
UNSUPPORTED = 415
NOT_ACCEPTABLE = 406
MODEL_ERROR = 424
SERVER_ERROR = 500


@dataclass
class Request:
    request_id: int
    meta: dict
    body: bytes


@dataclass
class Response:
    request_id: int
    status: int
    body: bytes
    meta: dict = field(default_factory=dict)


def pack_request(request_id: int, meta: dict, body: bytes) -> bytes:
    encoded = json.dumps(meta, separators=(",", ":")).encode()
    return REQUEST_HEAD.pack(request_id, len(body), len(encoded)) + encoded + body


def pack_response(response: Response) -> bytes:
    encoded = json.dumps(response.meta, separators=(",", ":")).encode()
    head = RESPONSE_HEAD.pack(response.request_id, len(response.body), len(encoded), response.status)
    return head + encoded + response.body


async def read_request(reader: asyncio.StreamReader) -> Request:
    request_id, body_size, meta_size = REQUEST_HEAD.unpack(await reader.readexactly(REQUEST_HEAD.size))
    payload = await reader.readexactly(meta_size + body_size)
    return Request(request_id, json.loads(payload[:meta_size]), payload[meta_size:])


async def read_response(reader: asyncio.StreamReader) -> Response:
    head = await reader.readexactly(RESPONSE_HEAD.size)
    request_id, body_size, meta_size, status = RESPONSE_HEAD.unpack(head)
    payload = await reader.readexactly(meta_size + body_size)
    return Response(request_id, status, payload[meta_size:], json.loads(payload[:meta_size]))


def open_connection(address: str) -> asyncio.Future:
    """``unix:/path`` or ``host:port``."""
    if address.startswith("unix:"):
        return asyncio.open_unix_connection(address[5:], limit=2**20)
    host, port = address.rsplit(":", 1)
    return asyncio.open_connection(host, int(port), limit=2**20)


class Connection:
    """One multiplexed connection to a serving process: many requests in flight, answers by id."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._next_id = 0
        self._opening: asyncio.Lock | None = None
        self._reading: asyncio.Task | None = None
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def closed(self) -> bool:
        return self._writer is None

    async def _open(self) -> None:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._writer is None:
                self._reader, self._writer = await open_connection(self.address)
                self._reading = asyncio.get_running_loop().create_task(self._read_loop(self._reader))

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        error: BaseException = ConnectionError(f"the serving process at {self.address} closed the connection")
        try:
            while True:
                response = await read_response(reader)
                future = self._pending.pop(response.request_id, None)
                if future is not None and not future.done():
                    future.set_result(response)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            if not isinstance(exc, asyncio.IncompleteReadError):
                error = exc
        finally:
            self._fail_all(error)

    def _fail_all(self, error: BaseException) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        self._outgoing = []
        if writer is not None:
            writer.close()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionError(str(error)))

    async def call(self, meta: dict, body: bytes, timeout: float) -> Response:
        """Send one request and wait for its answer. ``ConnectionRefusedError``/``FileNotFoundError``
        mean it never reached the process (safe to send elsewhere); ``TimeoutError`` after ``timeout``."""
        if self._writer is None:
            await self._open()
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        request_id = self._next_id
        loop = asyncio.get_running_loop()
        frame = pack_request(request_id, meta, body)  # before registering: it may raise
        future = loop.create_future()
        self._pending[request_id] = future
        self._outgoing.append(frame)
        if not self._flush_scheduled:
            # Frames queued in the same turn of the loop go out in one write.
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        expiry = loop.call_later(timeout, _expire, future)
        try:
            return await future
        finally:
            expiry.cancel()
            self._pending.pop(request_id, None)

    def _flush(self) -> None:
        self._flush_scheduled = False
        frames, self._outgoing = self._outgoing, []
        if self._writer is not None and frames:
            self._writer.write(b"".join(frames))

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
        self._fail_all(ConnectionError("closed"))


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def ping(address: str, timeout: float = 2.0) -> bool:
    """A blocking health check (the supervisor's): True when the process answers a ping frame."""
    family = socket.AF_UNIX if address.startswith("unix:") else socket.AF_INET
    target: object = address[5:] if family == socket.AF_UNIX else address.rsplit(":", 1)
    if family == socket.AF_INET:
        target = (target[0], int(target[1]))
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(target)
            sock.sendall(pack_request(1, {"op": "ping"}, b""))
            received = b""
            while len(received) < RESPONSE_HEAD.size:
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                received += chunk
            return RESPONSE_HEAD.unpack(received[: RESPONSE_HEAD.size])[3] == OK
    except OSError:
        return False
