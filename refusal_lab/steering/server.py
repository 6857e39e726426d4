"""The server behind `refusal-lab serve` (commands/serve.py; settings: config.ServeConfig, conf/serve.yaml).

An OpenAI-compatible endpoint on Starlette + uvicorn:

* GET  /v1/models                 -> the one served model
* POST /v1/chat/completions       -> chat completion; `stream: true` sends SSE chunks token by token

Every request is decided by the policy (score the first position, pick the control token,
force it, generate greedily after it). A request may override the policy with an extra body
field, e.g. {"refusal_lab": {"threshold": 0.3}} (OpenAI clients: `extra_body=`), unless the
operator locks overrides (`overrides=off`, or an allow-list with ranges). The response carries
{"refusal_lab": {"control_token", "refused", "probs", "policy"}}; the visible text never
contains the control token. Safe to expose: an API key from the environment when set (401),
finite JSON only, a body, prompt and max_tokens cap, request and idle timeouts, a connection
cap (503), and a 4xx with an OpenAI-style error for every malformed request (streams are
validated and decided before the first byte). The model runs on one worker thread
(server_engine.ModelWorker) that interleaves queued jobs between the tokens of a long generation.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import os
import re
import sys
import threading
import time
import uuid
from dataclasses import fields
from pathlib import Path

import anyio

from refusal_lab.config import InputError, ServeConfig
from refusal_lab.steering import policy as policy_mod
from refusal_lab.steering import server_requests as req
from refusal_lab.steering.server_engine import Engine, Job
from refusal_lab.steering.server_requests import OVERRIDE_FIELD, RequestError


def config_problems(cfg: ServeConfig) -> list[str]:
    """What the schema cannot see: finite numbers, files that must exist, the override spec, the key's variable name."""
    problems = [
        f"{f.name}={getattr(cfg, f.name)!r}: must be a finite number ({f.metadata['help']})"
        for f in fields(ServeConfig)
        if isinstance(getattr(cfg, f.name), float) and not math.isfinite(getattr(cfg, f.name))
    ]
    return problems + _semantic_problems(cfg)


def _semantic_problems(cfg: ServeConfig) -> list[str]:
    problems = []
    if not isinstance(cfg.checkpoint, (str, type(None))) or not isinstance(cfg.override_ranges, dict):
        return problems  # already reported as type errors
    if not cfg.checkpoint:
        problems.append(
            "checkpoint=None: give the checkpoint folder, e.g. checkpoint=outputs/runs/<date>/<run>/checkpoint"
        )
    elif not (Path(cfg.checkpoint) / "config.json").exists():
        problems.append(
            f"checkpoint={cfg.checkpoint!r}: no model there (expected config.json and safetensors written by a run)"
        )
    if cfg.policy and not Path(cfg.policy).exists():
        problems.append(f"policy={cfg.policy!r}: no such file; write one with `refusal-lab calibrate ... out=...`")
    try:
        req.make_lock(cfg.overrides, cfg.override_ranges)
    except ValueError as exc:
        problems.append(str(exc))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(cfg.api_key_env or "")):
        problems.append(
            f"api_key_env={cfg.api_key_env!r}: expected an environment variable name such as REFUSAL_LAB_API_KEY"
        )
    return problems


def _model_limits(cfg: ServeConfig, max_positions: int | None) -> list[str]:
    """Checks that need the checkpoint's config: max_new_tokens and the prompt cap fit the model's positions."""
    if not max_positions:
        return []
    problems = []
    if cfg.max_new_tokens > max_positions - 2:
        problems.append(
            f"max_new_tokens={cfg.max_new_tokens}: the model has {max_positions} positions; use at most {max_positions - 2}"
        )
    elif cfg.max_prompt_tokens and cfg.max_prompt_tokens + cfg.max_new_tokens + 1 > max_positions:
        problems.append(
            f"max_prompt_tokens={cfg.max_prompt_tokens}: with max_new_tokens={cfg.max_new_tokens} it exceeds the model's "
            f"{max_positions} positions; use at most {max_positions - cfg.max_new_tokens - 1}"
        )
    return problems


# --- HTTP ------------------------------------------------------------------------------------------------------------


def _error(status: int, message: str, param: str | None = None, code: str | None = None):
    from starlette.responses import JSONResponse

    kind = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}.get(
        status, "invalid_request_error" if status < 500 else "server_error"
    )
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status)


class ApiKeyMiddleware:
    """401 unless the request carries 'Authorization: Bearer <key>' (pure ASGI, before any body is read)."""

    def __init__(self, app, key: str):
        self.app, self.key = app, f"Bearer {key}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.key):
                why = "missing" if not given else "wrong"
                await _error(
                    401,
                    f"API key {why}: send 'Authorization: Bearer <key>' with the key this server was started with",
                    code="invalid_api_key",
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _read_body(request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and int(declared) > limit:  # uvicorn has already rejected non-numeric and negative values
        raise RequestError(
            f"the request body of {declared} bytes exceeds this server's limit of {limit} bytes", status=413
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(f"the request body exceeds this server's limit of {limit} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


class ChatService:
    """The routes, bound to an Engine, the override lock and the limits."""

    def __init__(self, engine: Engine, cfg: ServeConfig):
        self.engine, self.cfg = engine, cfg
        self.lock = req.make_lock(cfg.overrides, cfg.override_ranges)

    async def run_model(self, fn, *args):
        return await asyncio.wrap_future(self.engine.worker.submit(fn, *args))

    async def models(self, request):
        from starlette.responses import JSONResponse

        card = {"id": self.engine.model_name, "object": "model", "created": 0, "owned_by": "refusal-lab"}
        name = request.path_params.get("name")
        if name is None:
            return JSONResponse({"object": "list", "data": [card]})
        if name != self.engine.model_name:
            return _error(
                404,
                f"model {name[:100]!r} does not exist here; this server serves {self.engine.model_name!r}",
                "model",
                "model_not_found",
            )
        return JSONResponse(card)

    async def chat(self, request):
        job = Job(threading.Event(), time.monotonic() + self.cfg.request_timeout_s)
        raw = None
        try:
            with anyio.fail_after(self.cfg.request_timeout_s):  # asyncio.timeout needs Python 3.11
                raw = await _read_body(request, self.cfg.max_body_bytes)
                return await self._answer(req.parse_body(raw), job)
        except RequestError as exc:
            return _error(exc.status, str(exc), exc.param, exc.code)
        except TimeoutError:
            job.cancel.set()
            status, what = (408, "sending the request body") if raw is None else (504, "the request")
            return _error(
                status,
                f"{what} took longer than this server's request_timeout_s={self.cfg.request_timeout_s}",
                code="timeout",
            )
        except BaseException:
            job.cancel.set()
            raise

    async def _answer(self, body: dict, job: Job):
        from starlette.responses import JSONResponse, StreamingResponse

        stream, include_usage = req.flags(body, self.engine.model_name)
        messages = req.messages(body.get("messages"))
        max_tokens = req.max_tokens(body, self.engine.max_new_tokens, self.engine.max_new_tokens)
        pol = req.request_policy(self.engine.policy, self.lock, body.get(OVERRIDE_FIELD))
        ids = await asyncio.to_thread(self.engine.prompt_ids, messages)  # tokenizing is CPU work too
        decision = await self.run_model(self.engine.decide, ids, pol, job)
        if decision is None:
            raise TimeoutError
        head = self._head(decision, pol)
        if stream:  # validated and decided: from here on errors are reported in-band
            return StreamingResponse(
                self._sse(ids, decision.token, max_tokens, job, head, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        text, finish = await self.run_model(self.engine.generate, ids, decision.token, max_tokens, job)
        if finish == "expired":
            raise TimeoutError
        return JSONResponse(
            {
                **head,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
                "usage": self._usage(ids, text),
            }
        )

    def _head(self, decision, pol: policy_mod.Policy) -> dict:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "created": int(time.time()),
            "model": self.engine.model_name,
            OVERRIDE_FIELD: {
                "control_token": decision.token,
                "refused": decision.refused,
                "probs": decision.probs,
                "policy": pol.as_dict(),
            },
        }

    def _usage(self, ids: list[int], text: str) -> dict:
        completion = self.engine.completion_tokens(text)
        return {"prompt_tokens": len(ids), "completion_tokens": completion, "total_tokens": len(ids) + completion}

    async def _sse(self, ids, token, max_tokens, job: Job, head: dict, include_usage: bool):
        """OpenAI chunks: the decision in the first chunk, each piece of text as the model makes it,
        the finish reason, optional usage, [DONE]. A disconnect or timeout stops the model at the next token."""
        base = {"id": head["id"], "object": "chat.completion.chunk", "created": head["created"], "model": head["model"]}
        loop, pieces = asyncio.get_running_loop(), asyncio.Queue()
        done = object()

        def sse(obj) -> str:
            return f"data: {json.dumps(obj, ensure_ascii=False, allow_nan=False)}\n\n"

        yield sse(
            {
                **base,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                OVERRIDE_FIELD: head[OVERRIDE_FIELD],
            }
        )
        work = self.run_model(
            self.engine.generate, ids, token, max_tokens, job, lambda t: loop.call_soon_threadsafe(pieces.put_nowait, t)
        )
        task = asyncio.ensure_future(work)
        task.add_done_callback(lambda _: pieces.put_nowait(done))
        try:
            while (piece := await pieces.get()) is not done:
                yield sse({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            text, finish = task.result()
            if finish == "expired":
                yield sse(
                    {
                        "error": {
                            "message": f"generation stopped at request_timeout_s={self.cfg.request_timeout_s}",
                            "type": "server_error",
                            "code": "timeout",
                        }
                    }
                )
            else:
                yield sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                if include_usage:
                    yield sse({**base, "choices": [], "usage": self._usage(ids, text)})
        except Exception as exc:  # headers are sent: report in-band, keep the server alive
            yield sse({"error": {"message": f"internal error: {type(exc).__name__}", "type": "server_error"}})
        finally:
            job.cancel.set()
        yield "data: [DONE]\n\n"


def make_app(engine: Engine, cfg: ServeConfig | None = None, api_key: str | None = None):
    """The ASGI app: routes, OpenAI-style errors for every status, and the API key check when a key is given."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.routing import Route

    cfg = cfg or ServeConfig()
    svc = ChatService(engine, cfg)

    async def http_error(request, exc: HTTPException):
        hint = "this server has GET /v1/models and POST /v1/chat/completions"
        return _error(exc.status_code, f"{exc.detail}: {request.method} {request.url.path[:200]}; {hint}")

    async def server_error(request, exc: Exception):
        return _error(500, f"internal error: {type(exc).__name__}")

    app = Starlette(
        routes=[
            Route("/v1/models", svc.models, methods=["GET"]),
            Route("/v1/models/{name:path}", svc.models, methods=["GET"]),
            Route("/v1/chat/completions", svc.chat, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    return ApiKeyMiddleware(app, api_key) if api_key else app


# --- uvicorn ---------------------------------------------------------------------------------------------------------


def _idle_protocol(idle_s: float):
    """uvicorn's h11 protocol plus an idle timer from the moment a connection opens: a socket that sends
    nothing (or only part of a request head) is closed after `idle_s`, not kept forever."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class IdleClosingH11(H11Protocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            self._idle = self.loop.call_later(idle_s, self._close_if_idle)

        def on_response_complete(self):
            super().on_response_complete()
            if not self.transport.is_closing():
                self._idle.cancel()
                self._idle = self.loop.call_later(idle_s, self._close_if_idle)

        def connection_lost(self, exc):
            self._idle.cancel()
            super().connection_lost(exc)

        def _close_if_idle(self):
            if self.transport.is_closing():
                return
            if self.cycle is None or self.cycle.response_complete:
                self.transport.close()
            else:  # a request is in progress: its own timeout governs it
                self._idle = self.loop.call_later(idle_s, self._close_if_idle)

    return IdleClosingH11


def uvicorn_config(app, cfg: ServeConfig):
    import uvicorn

    return uvicorn.Config(
        app,
        host=cfg.host,
        port=cfg.port,
        http=_idle_protocol(cfg.keep_alive_s),
        loop="asyncio",
        limit_concurrency=cfg.max_connections,
        timeout_keep_alive=max(1, int(cfg.keep_alive_s)),
        timeout_graceful_shutdown=2,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


class ServerThread:
    """A real server on a background thread (tests and bench): `url` is its /v1 base; close() stops it."""

    def __init__(self, engine: Engine, cfg: ServeConfig | None = None, api_key: str | None = None):
        import uvicorn

        cfg = cfg or ServeConfig(port=0)
        self.server = uvicorn.Server(uvicorn_config(make_app(engine, cfg, api_key), cfg))
        self.sock = bind(cfg.host, cfg.port)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        host, port = self.sock.getsockname()[:2]
        self.url = f"http://{host}:{port}/v1"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def bind(host: str, port: int):
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)  # connections queue from now on, even before uvicorn's loop accepts them
    sock.set_inheritable(True)
    return sock


def load_engine(cfg: ServeConfig) -> Engine:
    from refusal_lab.model.loading import load_pretrained

    path = Path(cfg.checkpoint)
    pol = policy_mod.load(cfg.policy) if cfg.policy else policy_mod.for_checkpoint(path)
    max_positions = json.loads((path / "config.json").read_text()).get("max_position_embeddings")
    problems = _model_limits(cfg, max_positions)
    if problems:
        raise InputError(f"{len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))
    model, tokenizer = load_pretrained(str(path))
    missing = [
        t
        for t in pol.tokens
        if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)
        or tokenizer.convert_ids_to_tokens(tokenizer.convert_tokens_to_ids(t)) != t
    ]
    if missing:
        raise InputError(
            f"policy scheme={pol.scheme!r}: the checkpoint's tokenizer lacks {missing}; set the policy's scheme to the checkpoint's"
        )
    return Engine(
        model, tokenizer, pol, cfg.model_name or path.resolve().parent.name, cfg.max_new_tokens, cfg.max_prompt_tokens
    )


def serve(cfg: ServeConfig) -> int:
    """Load the checkpoint, bind, serve until Ctrl-C; 2 with one message for a setting that cannot work."""
    try:
        import torch

        torch.set_num_threads(cfg.threads)
        engine = load_engine(cfg)
    except (InputError, policy_mod.PolicyError) as exc:
        print(f"refusal-lab serve: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    api_key = os.environ.get(cfg.api_key_env) or None
    try:
        sock = bind(cfg.host, cfg.port)
    except OSError as exc:
        print(
            f"refusal-lab serve: host={cfg.host!r} port={cfg.port}: cannot bind ({exc.strerror}); pick another port (port=0: any free one)",
            file=sys.stderr,
        )
        return 2
    if not api_key and cfg.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: serving on {cfg.host} without an API key; set ${cfg.api_key_env} to require one", file=sys.stderr
        )
    host, port = sock.getsockname()[:2]
    print(
        f"serving {engine.model_name} at http://{host}:{port}/v1 (policy: {engine.policy.rule}; overrides: {req.make_lock(cfg.overrides, cfg.override_ranges).describe()}; "
        f"API key: {'required' if api_key else 'off'}; prompt cap {engine.max_prompt_tokens} tokens); Ctrl-C stops",
        flush=True,
    )
    try:
        uvicorn.Server(uvicorn_config(make_app(engine, cfg, api_key), cfg)).run(sockets=[sock])
        return 0
    finally:
        engine.close()
