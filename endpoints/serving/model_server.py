"""One serving process: loads one model and answers the gateway's frames on a socket (Django-free).

    python -m endpoints.serving.model_server --listen unix:/path/model.sock --model-dir DIR

The model is loaded (and, where Studio knows the input width, answers a smoke request) before the
socket exists, so a socket that accepts connections means a ready model. Requests that arrive
together are answered together: a batchable handler gets them as one ``predict`` call (adaptive
micro-batching: nothing waits for a batch to fill, a batch is whatever queued up during the last
one). An exception in the model fails only its requests. SIGTERM stops accepting, answers what
is queued, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import struct
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from endpoints.inference import codecs
from endpoints.inference.handlers import Context, ModelInvocationError, ModelLoadError, load_handler
from endpoints.serving import protocol

EXIT_LOAD_FAILED = 3
# An error message goes back in the frame's meta (at most 64 KiB): long ones (a repr of the input) are cut.
MAX_ERROR_CHARS = 4000


class ModelServer:
    def __init__(self, handler, max_batch: int) -> None:
        self.handler = handler
        self.max_batch = max_batch
        self.queue: collections.deque = collections.deque()
        self.wakeup = asyncio.Event()
        self.connections: set[asyncio.StreamWriter] = set()

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while True:
                request = await protocol.read_request(reader)
                self.queue.append((writer, request))
                self.wakeup.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.connections.discard(writer)
            writer.close()

    async def process_forever(self) -> None:
        while True:
            await self.wakeup.wait()
            # One turn of the loop first, so frames that arrived together on other connections are
            # read and join this batch.
            await asyncio.sleep(0)
            self.wakeup.clear()
            while self.queue:
                batch = [self.queue.popleft() for _ in range(min(self.max_batch, len(self.queue)))]
                requests = [request for _, request in batch]
                try:
                    answers = self.answer(requests)
                except Exception as exc:  # never let one batch end the loop that answers every request
                    traceback.print_exc()
                    answers = [_error_response(request, exc, time.perf_counter()) for request in requests]
                by_writer: dict[asyncio.StreamWriter, list[bytes]] = {}
                for (writer, request), response in zip(batch, answers, strict=True):
                    by_writer.setdefault(writer, []).append(_packed(request, response))
                for writer, frames in by_writer.items():
                    if not writer.is_closing():
                        writer.write(b"".join(frames))  # one write per connection per batch
                # Let the connections read what arrived meanwhile: that is the next batch.
                await asyncio.sleep(0)

    def answer(self, requests: list[protocol.Request]) -> list[protocol.Response]:
        responses: dict[int, protocol.Response] = {}
        batch = []
        for index, request in enumerate(requests):
            if request.meta.get("op") == "ping":
                responses[index] = protocol.Response(request.request_id, protocol.OK, b"", {"ready": True})
            elif self.handler.batchable:
                batch.append(index)
            else:
                responses[index] = self.answer_one(request)
        if batch:
            responses.update(self.answer_batch([requests[index] for index in batch], batch))
        return [responses[index] for index in range(len(requests))]

    def answer_one(self, request: protocol.Request) -> protocol.Response:
        started = time.perf_counter()
        meta = request.meta
        context = Context(custom_attributes=meta.get("attrs", ""), inference_id=meta.get("id", ""))
        try:
            answer = self.handler.invoke(request.body, meta.get("ct", ""), meta.get("accept", ""), context)
        except Exception as exc:
            return _error_response(request, exc, started)
        out = {"ct": answer.content_type, "ms": _ms_since(started)}
        if answer.custom_attributes:
            out["attrs"] = answer.custom_attributes
        return protocol.Response(request.request_id, protocol.OK, answer.body, out)

    def answer_batch(
        self, requests: list[protocol.Request], indexes: list[int]
    ) -> dict[int, protocol.Response]:
        """One ``predict`` for every request that decodes; any trouble falls back to one by one."""
        if len(requests) == 1:
            return {indexes[0]: self.answer_one(requests[0])}
        started = time.perf_counter()
        responses: dict[int, protocol.Response] = {}
        decoded = []
        for index, request in zip(indexes, requests, strict=True):
            try:
                accept = codecs.pick_accept(request.meta.get("accept", ""), self.handler.default_accept)
                decoded.append(
                    (index, request, accept, self.handler.decode(request.body, request.meta.get("ct", "")))
                )
            except Exception as exc:
                responses[index] = _error_response(request, exc, started)
        if not decoded:
            return responses
        widths = {matrix.shape[1] for *_, matrix in decoded}
        try:
            if len(widths) != 1:
                raise ValueError("requests of different widths")
            predictions = self.handler.predict(np.vstack([matrix for *_, matrix in decoded]))
        except Exception:
            for index, request, *_ in decoded:
                responses[index] = self.answer_one(request)
            return responses
        elapsed = _ms_since(started)
        if _row_count(predictions) != sum(len(matrix) for *_, matrix in decoded):
            # Not one answer per row: slicing would hand rows to the wrong requests.
            for index, request, *_ in decoded:
                responses[index] = self.answer_one(request)
            return responses
        start = 0
        for index, request, accept, matrix in decoded:
            stop = start + len(matrix)
            try:
                body = self.handler.encode(predictions, start, stop, accept)
                responses[index] = protocol.Response(
                    request.request_id, protocol.OK, body, {"ct": accept, "ms": elapsed}
                )
            except Exception as exc:
                responses[index] = _error_response(request, exc, started)
            start = stop
        return responses


def _row_count(predictions: object) -> int | None:
    """Rows of a batch's predictions: an array's length, or every array's of a built-in's dict."""
    try:
        if isinstance(predictions, dict):
            lengths = {len(values) for values in predictions.values()}
            return lengths.pop() if len(lengths) == 1 else None
        return len(predictions)
    except TypeError:  # a 0-d array, a scalar
        return None


def _packed(request: protocol.Request, response: protocol.Response) -> bytes:
    """The response's frame; one that cannot be packed (meta too long, not JSON) becomes an error."""
    try:
        return protocol.pack_response(response)
    except (TypeError, ValueError, OverflowError, struct.error) as exc:
        error = ModelInvocationError(f"the model's answer cannot be sent: {type(exc).__name__}: {exc}")
        return protocol.pack_response(_error_response(request, error, time.perf_counter()))


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _error_response(request: protocol.Request, exc: Exception, started: float) -> protocol.Response:
    if isinstance(exc, codecs.UnsupportedContentType):
        status = protocol.UNSUPPORTED if "Content-Type" in str(exc) else protocol.NOT_ACCEPTABLE
    elif isinstance(exc, codecs.PayloadError):
        status = protocol.CLIENT_ERROR
    elif isinstance(exc, ModelInvocationError):
        status = protocol.MODEL_ERROR
    else:
        status = protocol.MODEL_ERROR
        exc = ModelInvocationError(f"{type(exc).__name__}: {exc}")
    if status == protocol.MODEL_ERROR:
        traceback.print_exception(exc, file=sys.stderr)
    message = str(exc)
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + " ... (cut)"
    return protocol.Response(
        request.request_id, status, message.encode(), {"error": message, "ms": _ms_since(started)}
    )


async def serve(listen: str, handler, max_batch: int) -> None:
    server_state = ModelServer(handler, max_batch)
    if listen.startswith("unix:"):
        path = Path(listen[5:])
        path.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(server_state.serve_connection, path=str(path), limit=2**20)
    else:
        host, port = listen.rsplit(":", 1)
        server = await asyncio.start_server(server_state.serve_connection, host, int(port), limit=2**20)
    processor = asyncio.get_running_loop().create_task(server_state.process_forever())
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    print(f"serving on {listen}", flush=True)
    await stopping.wait()
    server.close()
    # Answer what is queued and in flight, then go.
    deadline = time.monotonic() + 30
    while server_state.queue and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    processor.cancel()
    for writer in list(server_state.connections):
        writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="unix:/path or host:port")
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument(
        "--max-batch", type=int, default=int(os.environ.get("STUDIO_SERVING_MAX_BATCH", "64"))
    )
    args = parser.parse_args(argv)
    try:
        handler = load_handler(args.model_dir)
        smoke = getattr(handler, "smoke_body", lambda: None)()
        if smoke is not None:
            handler.invoke(smoke[0], smoke[1], "")
    except (ModelLoadError, ModelInvocationError, codecs.PayloadError) as exc:
        print(f"ModelLoadError: {exc}", file=sys.stderr, flush=True)
        return EXIT_LOAD_FAILED
    except Exception as exc:
        traceback.print_exc()
        print(f"ModelLoadError: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return EXIT_LOAD_FAILED
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.listen, handler, args.max_batch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
