"""The served model: tokenize, decide the first control token, generate after it.

All model work runs on one worker thread (`ModelWorker`: one thread = one lock), so the server's
event loop never blocks on torch and jobs start in arrival order. A generation does not hold the
model to its end: between two of its tokens it runs one queued job (a decision or another
generation, which itself yields to nothing), so a 2-token request waits about one token step
behind a maximal one instead of its whole generation. Every job carries a cancel event and a
deadline: a job whose request timed out or disconnected is skipped or stops at its next token.
The prompt cap (from the model's positions) bounds the one step that cannot be split, the
prompt's forward pass.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

from refusal_lab.steering import first_position
from refusal_lab.steering import policy as policy_mod
from refusal_lab.steering.server_requests import RequestError

CHARS_PER_TOKEN_LIMIT = 64  # a prompt longer than cap * this many characters is refused before tokenizing


@dataclass
class Decision:
    token: str  # the chosen control token
    refused: bool  # token != [respond]
    probs: dict[str, float]  # first-position probability of every control token


@dataclass
class Job:
    """One request's claim on the model: stop when `cancel` is set or `deadline` (monotonic) passes."""

    cancel: threading.Event
    deadline: float

    def expired(self) -> bool:
        return self.cancel.is_set() or time.monotonic() > self.deadline


class ModelWorker:
    """One thread that runs model jobs in arrival order; `yield_once` (called by a running generation
    between tokens, on this thread) runs one queued job inside it, never nested deeper."""

    def __init__(self):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._nested = False
        self.thread = threading.Thread(target=self._loop, name="refusal-lab-model", daemon=True)
        self.thread.start()

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        self.jobs.put((fut, fn, args))
        return fut

    @staticmethod
    def _run(item) -> None:
        fut, fn, args = item
        if not fut.set_running_or_notify_cancel():  # its request is gone: skip it
            return
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # handed to the request that asked; the worker lives on
            fut.set_exception(exc)

    def _loop(self) -> None:
        while (item := self.jobs.get()) is not None:
            self._run(item)

    def yield_once(self) -> None:
        if self._nested or threading.current_thread() is not self.thread:
            return
        try:
            item = self.jobs.get_nowait()
        except queue.Empty:
            return
        if item is None:  # closing: leave the sentinel for the loop
            self.jobs.put(None)
            return
        self._nested = True
        try:
            self._run(item)
        finally:
            self._nested = False

    def close(self) -> None:
        self.jobs.put(None)


class _StopWhen(StoppingCriteria):
    """Called after every generated token: let one queued job run, then stop if this job expired."""

    def __init__(self, job: Job, worker: ModelWorker | None):
        self.job, self.worker = job, worker

    def __call__(self, input_ids, scores, **kwargs):
        if self.worker is not None:
            self.worker.yield_once()
        return torch.full((input_ids.shape[0],), self.job.expired(), dtype=torch.bool, device=input_ids.device)


class _PieceStreamer(TextStreamer):
    """Hands each finished piece of visible text to a callback (from the model thread)."""

    def __init__(self, tokenizer, on_text):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.on_text = on_text

    def on_finalized_text(self, text: str, stream_end: bool = False):
        if text:
            self.on_text(text)


class Engine:
    """The model, its control tokens, the default policy and the limits it is served under."""

    def __init__(
        self,
        model,
        tokenizer,
        pol: policy_mod.Policy,
        model_name: str,
        max_new_tokens: int = 128,
        max_prompt_tokens: int | None = None,
    ):
        self.model, self.tokenizer, self.policy = model, tokenizer, pol
        self.model_name, self.max_new_tokens = model_name, max_new_tokens
        self.max_positions = getattr(model.config, "max_position_embeddings", None)
        default_cap = (
            self.max_positions - max_new_tokens - 1 if self.max_positions else 1 << 20
        )  # -1: the control token
        self.max_prompt_tokens = max_prompt_tokens or default_cap
        self.token_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in pol.tokens}
        self.lock = threading.RLock()  # re-entered by a job that runs between two tokens of another
        self.worker = ModelWorker()

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        """The conversation's token ids; 400 above the prompt cap (naming it)."""
        chars = sum(len(m["content"]) for m in messages)
        if chars > self.max_prompt_tokens * CHARS_PER_TOKEN_LIMIT:
            raise self._too_long(f"{chars} characters")
        try:
            ids = first_position.chat_ids(self.tokenizer, messages)
        except Exception as exc:  # the chat template rejects the conversation (e.g. roles out of order)
            raise RequestError(
                f"messages: the model's chat template cannot render this conversation ({str(exc)[:200]})",
                param="messages",
            ) from None
        if len(ids) > self.max_prompt_tokens:
            raise self._too_long(f"{len(ids)} tokens")
        return ids

    def _too_long(self, size: str) -> RequestError:
        return RequestError(
            f"messages: the prompt is {size}; this server accepts at most {self.max_prompt_tokens} prompt tokens "
            f"(the model has {self.max_positions} positions, {self.max_new_tokens} kept for the answer); shorten it",
            param="messages",
            code="context_length_exceeded",
        )

    def decide(self, ids: list[int], pol: policy_mod.Policy, job: Job) -> Decision | None:
        """Score the first position and pick the control token (None: the job expired first)."""
        if job.expired():
            return None
        steered = first_position.decide_and_generate(
            self.model, self.tokenizer, [ids], pol, self.token_ids, 0, lock=self.lock
        )
        token = steered.tokens[int(steered.chosen[0])]
        return Decision(
            token, token != steered.tokens[0], {t: float(p) for t, p in zip(steered.tokens, steered.probs[0])}
        )

    @torch.no_grad()
    def generate(self, ids: list[int], token: str, max_tokens: int, job: Job, on_text=None) -> tuple[str, str]:
        """Greedy text after the forced control token: (visible text, finish) where finish is
        stop (eos), length, or expired (cancelled or past the deadline)."""
        if job.expired():
            return "", "expired"
        inp = torch.tensor([ids + [self.token_ids[token]]], device=next(self.model.parameters()).device)
        eos = self.tokenizer.eos_token_id
        with self.lock:
            out = self.model.generate(
                input_ids=inp,
                attention_mask=torch.ones_like(inp),
                max_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=eos,
                suppress_tokens=list(self.token_ids.values()),
                stopping_criteria=StoppingCriteriaList([_StopWhen(job, self.worker)]),
                streamer=_PieceStreamer(self.tokenizer, on_text) if on_text else None,
            )
        row = out[0, inp.shape[1] :].tolist()
        if eos in row:
            finish, row = "stop", row[: row.index(eos)]
        else:
            finish = "expired" if job.expired() and len(row) < max_tokens else "length"
        return first_position._visible(self.tokenizer, row, list(self.token_ids)), finish

    def completion_tokens(self, text: str) -> int:
        return (
            len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
        ) + 1  # +1: the control token

    def close(self) -> None:
        self.worker.close()
