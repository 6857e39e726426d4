"""The server behind `refusal-lab serve checkpoint=RUN/checkpoint policy=POLICY.yaml [host=127.0.0.1 port=8000]`

A minimal OpenAI-compatible endpoint (stdlib ThreadingHTTPServer, no new dependency):

* GET  /v1/models                 -> the one served model
* POST /v1/chat/completions       -> chat completion; `stream: true` sends SSE chunks token by token

Every request is decided by the policy (first_position.decide_and_generate: score the first
position, pick the control token, force it, generate greedily after it). A request may
override the policy with an extra body field, e.g. {"refusal_lab": {"threshold": 0.3}}
(OpenAI clients: `extra_body={"refusal_lab": {...}}`). The response carries
{"refusal_lab": {"control_token", "refused", "probs", "policy"}} beside the usual
fields; the visible text never contains the control token. Bad requests get a 4xx
with an OpenAI-style error body; an unexpected failure answers 500 and the server
keeps serving.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from refusal_lab.steering import policy as policy_mod
from refusal_lab.config import InputError

OVERRIDE_FIELD = "refusal_lab"
MAX_BODY = 1 << 20


class BadRequest(ValueError):
    def __init__(self, message: str, status: int = 400, param: str | None = None):
        super().__init__(message)
        self.status, self.param = status, param


class Engine:
    """The model, its control tokens and the default policy; generation is serialised by a lock."""

    def __init__(self, model, tokenizer, pol: policy_mod.Policy, model_name: str, max_new_tokens: int = 128):
        self.model, self.tokenizer, self.policy = model, tokenizer, pol
        self.model_name, self.max_new_tokens = model_name, max_new_tokens
        self.token_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in pol.tokens}
        self.lock = threading.Lock()

    def prepare(self, body: dict) -> tuple[list[int], policy_mod.Policy, int]:
        """Validate a request: prompt ids, the policy (with any per-request override), max tokens."""
        from refusal_lab.steering import first_position

        messages = _messages(body.get("messages"))
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens", self.max_new_tokens))
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise BadRequest(f"max_tokens={max_tokens!r}: must be a positive integer (this server caps it at {self.max_new_tokens})", param="max_tokens")
        max_tokens = min(max_tokens, self.max_new_tokens)  # the server's limit, as `max_new_tokens=` at start
        if body.get("n", 1) != 1:
            raise BadRequest(f"n={body.get('n')!r}: this server returns one choice; use n=1", param="n")
        pol = self.policy
        if body.get(OVERRIDE_FIELD) is not None:
            try:
                pol = policy_mod.override(self.policy, body[OVERRIDE_FIELD], f"request field {OVERRIDE_FIELD!r}")
            except policy_mod.PolicyError as exc:
                raise BadRequest(str(exc), param=OVERRIDE_FIELD) from None
            if pol.scheme != self.policy.scheme:
                raise BadRequest(f"{OVERRIDE_FIELD}.scheme={pol.scheme!r}: the served checkpoint uses scheme {self.policy.scheme!r}", param=OVERRIDE_FIELD)
        try:
            ids = first_position.chat_ids(self.tokenizer, messages)
        except Exception as exc:  # the chat template rejects the conversation (e.g. roles out of order)
            raise BadRequest(f"messages: the model's chat template cannot render this conversation ({exc})", param="messages") from None
        return ids, pol, max_tokens

    def _header(self, ids: list[int], pol: policy_mod.Policy, steered) -> dict:
        token = steered.tokens[int(steered.chosen[0])]
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": self.model_name,
                OVERRIDE_FIELD: {"control_token": token, "refused": token != steered.tokens[0],
                                 "probs": {t: float(p) for t, p in zip(steered.tokens, steered.probs[0])},
                                 "policy": pol.as_dict()}}

    def _usage(self, ids: list[int], text: str) -> dict:
        completion_tokens = len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
        return {"prompt_tokens": len(ids), "completion_tokens": completion_tokens + 1,  # +1: the control token
                "total_tokens": len(ids) + completion_tokens + 1}

    def complete(self, body: dict) -> dict:
        from refusal_lab.steering import first_position

        ids, pol, max_tokens = self.prepare(body)
        steered = first_position.decide_and_generate(self.model, self.tokenizer, [ids], pol, self.token_ids, max_tokens, lock=self.lock)
        head = self._header(ids, pol, steered)
        return {"id": head["id"], "object": "chat.completion", "created": head["created"], "model": head["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": steered.texts[0]}, "logprobs": None,
                             "finish_reason": steered.finish[0]}],
                "usage": self._usage(ids, steered.texts[0]), OVERRIDE_FIELD: head[OVERRIDE_FIELD]}

    def decide(self, body: dict):
        """The first half of a streamed completion: validated request and the policy's token."""
        from refusal_lab.steering import first_position

        ids, pol, max_tokens = self.prepare(body)
        steered = first_position.decide_and_generate(self.model, self.tokenizer, [ids], pol, self.token_ids, 0, lock=self.lock)
        return ids, max_tokens, steered, self._header(ids, pol, steered)

    def stream_text(self, ids: list[int], token: str, max_tokens: int):
        """Text pieces as the model produces them (after the forced control token), then
        ("finish", reason, full_text). The lock is held for the whole generation."""
        from transformers import TextIteratorStreamer

        eos = self.tokenizer.eos_token_id
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        inp = torch_tensor([ids + [self.token_ids[token]]], self.model)
        control = list(self.token_ids.values())
        produced: list = []

        def generate():
            out = self.model.generate(input_ids=inp, attention_mask=inp.new_ones(inp.shape), max_new_tokens=max_tokens,
                                      do_sample=False, pad_token_id=self.tokenizer.pad_token_id, eos_token_id=eos,
                                      suppress_tokens=control, streamer=streamer)
            produced.append(out[0, inp.shape[1]:].tolist())

        with self.lock:
            worker = threading.Thread(target=generate, daemon=True)
            worker.start()
            pieces = []
            for piece in streamer:
                if piece:
                    pieces.append(piece)
                    yield piece
            worker.join()
        ended = bool(produced) and eos in produced[0]
        yield ("finish", "stop" if ended else "length", "".join(pieces))


def torch_tensor(rows: list[list[int]], model):
    import torch

    return torch.tensor(rows, device=next(model.parameters()).device)


def _messages(raw) -> list[dict]:
    """OpenAI messages -> plain {role, content} with text content (content parts joined)."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages: expected a non-empty list of {role, content} objects", param="messages")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "developer"):
            raise BadRequest(f"messages[{i}]: expected an object with role system, user or assistant; got {m!r:.200}", param="messages")
        content = m.get("content")
        if isinstance(content, list):  # content parts: only text is understood
            parts = []
            for part in content:
                if not isinstance(part, dict) or part.get("type") != "text":
                    raise BadRequest(f"messages[{i}].content: only text parts are supported; got {part!r:.100}", param="messages")
                parts.append(str(part.get("text", "")))
            content = "".join(parts)
        if not isinstance(content, str):
            raise BadRequest(f"messages[{i}].content: expected a string or a list of text parts", param="messages")
        out.append({"role": "system" if m["role"] == "developer" else m["role"], "content": content})
    if out[-1]["role"] != "user":
        raise BadRequest(f"messages[{len(out) - 1}]: the last message must come from the user (got role {out[-1]['role']!r})", param="messages")
    return out


def make_handler(engine: Engine):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "refusal-lab"

        def log_message(self, fmt, *args):  # quiet by default; errors are still answered to the client
            pass

        def _json(self, status: int, obj: dict) -> None:
            data = json.dumps(obj, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, param: str | None = None) -> None:
            kind = "invalid_request_error" if status < 500 else "server_error"
            self._json(status, {"error": {"message": message, "type": kind, "param": param, "code": None}})

        def do_GET(self):
            path = self.path.split("?")[0].rstrip("/")
            if path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": engine.model_name, "object": "model", "created": 0, "owned_by": "refusal-lab"}]})
            elif path.startswith("/v1/models/") and path.split("/")[-1] == engine.model_name:
                self._json(200, {"id": engine.model_name, "object": "model", "created": 0, "owned_by": "refusal-lab"})
            else:
                self._error(404, f"no route GET {path}; this server has GET /v1/models and POST /v1/chat/completions")

        def do_POST(self):
            path = self.path.split("?")[0].rstrip("/")
            if path != "/v1/chat/completions":
                self._error(404, f"no route POST {path}; use POST /v1/chat/completions")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise BadRequest(f"request body of {length} bytes exceeds the limit of {MAX_BODY}", status=413)
                try:
                    body = json.loads(self.rfile.read(length) or b"null")
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise BadRequest(f"the body is not valid JSON ({exc})") from None
                if not isinstance(body, dict):
                    raise BadRequest("the body must be a JSON object with at least 'messages'")
                if body.get("stream"):  # validate and decide before the first byte, so errors are still 4xx
                    decided = engine.decide(body)
                else:
                    result = engine.complete(body)
            except BadRequest as exc:
                self._error(exc.status, str(exc), exc.param)
                return
            except Exception as exc:  # never let one request take the server down
                self._error(500, f"internal error: {type(exc).__name__}: {exc}")
                return
            if body.get("stream"):
                self._stream(*decided, bool((body.get("stream_options") or {}).get("include_usage")))
            else:
                self._json(200, result)

        def _stream(self, ids, max_tokens, steered, head, include_usage: bool) -> None:
            """SSE in OpenAI's chunk format, token by token: the decision in the first chunk's
            refusal_lab field, then each piece of text as the model produces it, the finish
            reason, optional usage, [DONE]. A failure mid-stream ends it with an error event."""
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            base = {"id": head["id"], "object": "chat.completion.chunk", "created": head["created"], "model": head["model"]}

            def send(chunk: dict) -> None:
                self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()

            send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                  OVERRIDE_FIELD: head[OVERRIDE_FIELD]})
            try:
                for item in engine.stream_text(ids, steered.tokens[int(steered.chosen[0])], max_tokens):
                    if isinstance(item, tuple):
                        _, reason, text = item
                        send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
                        if include_usage:
                            send({**base, "choices": [], "usage": engine._usage(ids, text)})
                    else:
                        send({**base, "choices": [{"index": 0, "delta": {"content": item}, "finish_reason": None}]})
            except Exception as exc:  # headers are sent: report in-band, keep the server alive
                send({"error": {"message": f"internal error: {type(exc).__name__}: {exc}", "type": "server_error"}})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


def make_server(engine: Engine, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(engine))
    server.daemon_threads = True
    return server


def load_engine(checkpoint: str, policy_path: str | None, model_name: str | None = None, max_new_tokens: int = 128) -> Engine:
    from refusal_lab.model.loading import load_pretrained

    path = Path(checkpoint)
    if not (path / "config.json").exists():
        raise InputError(f"checkpoint={checkpoint!r}: no model there (expected config.json and safetensors written by a run)")
    pol = policy_mod.load(policy_path) if policy_path else policy_mod.for_checkpoint(path)
    model, tokenizer = load_pretrained(str(path))
    missing = [t for t in pol.tokens if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)
               or tokenizer.convert_ids_to_tokens(tokenizer.convert_tokens_to_ids(t)) != t]
    if missing:
        raise InputError(f"policy scheme={pol.scheme!r}: the checkpoint's tokenizer lacks {missing}; set the policy's scheme to the checkpoint's")
    return Engine(model, tokenizer, pol, model_name or path.resolve().parent.name, max_new_tokens)
