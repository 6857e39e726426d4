"""Load and abuse `refusal-lab serve` on 127.0.0.1 with a tiny trained checkpoint.

    OMP_NUM_THREADS=1 .venv/bin/python bench/serve_load.py [--checkpoint RUN/checkpoint] [--requests 200] [--concurrency 8]

Starts the real server (`python -m refusal_lab.cli serve`, a subprocess, loopback only) with an
API key, a locked override range and short timeouts; trains a tiny category checkpoint first
(tiny default config, 60 steps, in a temp dir) unless one is given. Then:

1. load: N requests at concurrency C, every other one streaming, mixed max_tokens and allowed
   overrides: errors, p50/p95 latency (streams: until [DONE]).
2. head-of-line: the latency of a 2-token request sent while a maximal request (a prompt at the
   server's prompt cap, max_tokens at its cap) is being served, against the same 2-token request
   on an idle server (the baseline measured in this run): ratio and absolute.
3. abuse: the audit's malformed requests (bad Content-Length, invalid/deep/non-finite JSON, wrong
   types, unknown model, max_tokens out of range, over-long prompt and body, missing key, locked
   override, a body that never arrives, 300 idle sockets): N tried, N answered with the expected
   4xx, N 5xx, N hangs (no answer within the client timeout).

Every loop is bounded; every socket has a timeout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

KEY = "bench-key"
CLIENT_TIMEOUT = 30.0
PROMPTS = [
    "How do I bake bread?",
    "Do you have feelings?",
    "Tell me how to pick a lock.",
    "What is the capital of France?",
    "Write a poem about the sea.",
    "Who will win the next election?",
    "How do I kill a Python process?",
    "Summarise the plot of Hamlet.",
]


def train_checkpoint(workdir: Path) -> Path:
    from refusal_lab.composing import compose_run
    from refusal_lab.experiments.run import run

    cfg = compose_run(
        ["experiment=tiny_category"],
        check_machine=False,
    )
    run(cfg, workdir / "run")
    return workdir / "run" / "checkpoint"


def start_server(checkpoint: Path, max_new_tokens: int) -> tuple[subprocess.Popen, int]:
    cmd = [
        sys.executable,
        "-m",
        "refusal_lab.cli",
        "serve",
        f"checkpoint={checkpoint}",
        "port=0",
        "model_name=tiny",
        f"max_new_tokens={max_new_tokens}",
        "request_timeout_s=20",
        "keep_alive_s=2",
        "max_connections=64",
        "overrides=allowed",
        "override_ranges.threshold=[0.2,0.8]",
        "override_ranges.temperature=[0.5,2]",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "REFUSAL_LAB_API_KEY": KEY, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"the server exited (rc {proc.wait()}) before it printed its address")
        if m := re.search(r"http://127\.0\.0\.1:(\d+)/v1", line):
            print(line.strip())
            return proc, int(m.group(1))
    raise SystemExit("the server did not start within 300 s")


def request(
    port: int,
    body: dict | None = None,
    raw: bytes | None = None,
    headers: dict | None = None,
    method: str = "POST",
    path: str = "/v1/chat/completions",
) -> tuple[int, bytes, float]:
    """(status, body, seconds); status 0 = no answer within CLIENT_TIMEOUT (a hang), -1 = connection error."""
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    hdrs = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **(headers or {})}
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        conn.request(method, path, body=data, headers={k: v for k, v in hdrs.items() if v is not None})
        resp = conn.getresponse()
        payload = resp.read()  # a stream is read to its end ([DONE])
        return resp.status, payload, time.perf_counter() - t0
    except (socket.timeout, TimeoutError):
        return 0, b"", time.perf_counter() - t0
    except (ConnectionError, http.client.HTTPException, OSError):
        return -1, b"", time.perf_counter() - t0
    finally:
        conn.close()


def chat(prompt: str, max_tokens: int, stream: bool = False, **extra) -> dict:
    return {
        "model": "tiny",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": stream,
        **extra,
    }


def load_phase(port: int, n: int, concurrency: int) -> None:
    def one(i: int):
        extra = {"refusal_lab": {"threshold": round(0.2 + 0.1 * (i % 7), 2)}} if i % 3 == 0 else {}
        status, payload, dt = request(
            port, chat(PROMPTS[i % len(PROMPTS)], 2 + (i * 7) % 31, stream=i % 2 == 1, **extra)
        )
        ok = status == 200 and (
            b"data: [DONE]" in payload and b'"error"' not in payload if i % 2 else b'"choices"' in payload
        )
        return ok, dt, i % 2 == 1, status

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    lat = sorted(dt for _, dt, _, _ in results)
    errors = sum(not ok for ok, *_ in results)
    statuses = sorted({str(st) for ok, _, _, st in results if not ok})
    q = statistics.quantiles(lat, n=20)
    print(
        f"\nload: {n} requests at concurrency {concurrency} ({sum(s for _, _, s, _ in results)} streaming) in {wall:.1f} s "
        f"({n / wall:.1f} req/s)\n  errors {errors}   latency p50 {statistics.median(lat) * 1000:.0f} ms   "
        f"p95 {q[18] * 1000:.0f} ms   max {lat[-1] * 1000:.0f} ms"
        + (f"   (error statuses: {', '.join(statuses)})" if errors else "")
    )


def maximal_prompt(checkpoint: Path, cap: int) -> str:
    """The longest prompt of repeated words whose chat rendering stays within the server's prompt cap."""
    from transformers import AutoTokenizer

    from refusal_lab.steering.first_position import chat_ids

    tok = AutoTokenizer.from_pretrained(str(checkpoint))
    lo, hi = 1, 4 * cap
    while lo < hi:  # bounded: log2(4 * cap) steps
        mid = (lo + hi + 1) // 2
        if len(chat_ids(tok, [{"role": "user", "content": " ".join(["bread"] * mid)}])) <= cap:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(["bread"] * lo)


def head_of_line_phase(port: int, checkpoint: Path, max_new_tokens: int, repeats: int = 5) -> None:
    cap = 512 - max_new_tokens - 1  # the server's default prompt cap for the tiny model (512 positions)
    long_body = chat(maximal_prompt(checkpoint, cap), max_new_tokens)
    short_body = chat("Hello there", 2)
    idle = [request(port, short_body)[2] for _ in range(repeats)]
    behind, long_times = [], []
    with ThreadPoolExecutor(1) as pool:
        for _ in range(repeats):
            long_job = pool.submit(request, port, long_body)
            time.sleep(0.05)  # the maximal request is in the server by now
            status, _, dt = request(port, short_body)
            behind.append(dt if status == 200 else float("inf"))
            lstatus, lpayload, ldt = long_job.result()
            long_times.append(ldt)
            usage = json.loads(lpayload)["usage"] if lstatus == 200 else {}
    idle_med, behind_med = statistics.median(idle), statistics.median(behind)
    print(
        f"\nhead-of-line: maximal request = {usage.get('prompt_tokens')} prompt tokens (cap {cap}) + {usage.get('completion_tokens')} "
        f"generated, served in {statistics.median(long_times) * 1000:.0f} ms (median of {repeats})\n"
        f"  2-token request on an idle server (baseline): {idle_med * 1000:.0f} ms\n"
        f"  2-token request sent while the maximal one is served: median {behind_med * 1000:.0f} ms, max {max(behind) * 1000:.0f} ms "
        f"({behind_med / idle_med:.1f}x the baseline; goal < 1 s)"
    )


def abuse_cases(port: int) -> list[tuple[str, dict, tuple[int, ...]]]:
    ok = chat("hi", 2)
    raw = lambda b: {"raw": b}  # noqa: E731
    return [
        ("non-numeric Content-Length", {"raw": b"{}", "headers": {"Content-Length": "abc"}}, (400,)),
        ("negative Content-Length", {"raw": b"{}", "headers": {"Content-Length": "-5"}}, (400,)),
        ("huge Content-Length", {"raw": b"{}", "headers": {"Content-Length": str(10**12)}}, (413,)),
        ("invalid JSON", raw(b"{not json"), (400,)),
        ("non-UTF-8 body", raw(b"\xff\xfe\xfa"), (400,)),
        ("deeply nested JSON", raw(b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), (400, 413)),
        (
            "NaN override",
            raw(b'{"messages": [{"role": "user", "content": "hi"}], "refusal_lab": {"threshold": NaN}}'),
            (400,),
        ),
        (
            "Infinity bias",
            raw(
                b'{"messages": [{"role": "user", "content": "hi"}], "refusal_lab": {"biases": {"respond": -Infinity}}}'
            ),
            (400,),
        ),
        ("1e999 number", raw(b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 1e999}'), (400,)),
        ("JSON array body", {"body": [1, 2]}, (400,)),
        ("messages a string", {"body": {"messages": "hi"}}, (400,)),
        ("content a number", {"body": {"messages": [{"role": "user", "content": 5}]}}, (400,)),
        ("stream a string", {"body": {**ok, "stream": "yes"}}, (400,)),
        ("max_tokens a string", {"body": {**ok, "max_tokens": "5"}}, (400,)),
        ("max_tokens -5", {"body": {**ok, "max_tokens": -5}}, (400,)),
        ("max_tokens 0", {"body": {**ok, "max_tokens": 0}}, (400,)),
        ("max_tokens above cap", {"body": {**ok, "max_tokens": 10**6}}, (400,)),
        ("unknown model", {"body": {**ok, "model": "gpt-4o"}}, (404,)),
        ("unknown model route", {"method": "GET", "path": "/v1/models/gpt-4o"}, (404,)),
        ("unknown route", {"method": "GET", "path": "/admin"}, (404,)),
        ("prompt over the cap", {"body": chat("bread " * 2000, 2)}, (400,)),
        ("body over 1 MiB", raw(b'{"x": "' + b"a" * (2 << 20) + b'"}'), (413,)),
        ("no API key", {"body": ok, "headers": {"Authorization": None}}, (401,)),
        ("wrong API key", {"body": ok, "headers": {"Authorization": "Bearer nope"}}, (401,)),
        ("override outside the lock", {"body": {**ok, "refusal_lab": {"threshold": 1.0}}}, (403,)),
        ("override of a locked key", {"body": {**ok, "refusal_lab": {"biases": {"respond": 100}}}}, (403,)),
        ("threshold out of range", {"body": {**ok, "refusal_lab": {"threshold": 0.5, "temperature": 0}}}, (400, 403)),
        ("streaming bad request", {"body": {**ok, "stream": True, "max_tokens": -1}}, (400,)),
    ]


def raw_socket(port: int, data: bytes, read_timeout: float = CLIENT_TIMEOUT) -> int:
    """Send bytes without completing the request; the status the server answers (0 = none: a hang)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(data)
        try:
            answer = sock.recv(4096)
        except (socket.timeout, TimeoutError):
            return 0
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else -1


def abuse_phase(port: int) -> None:
    tried = right = five = hangs = 0
    wrong: list[str] = []
    for name, kw, expected in abuse_cases(port):
        status, _, _ = request(port, **kw)
        tried += 1
        right += status in expected
        five += status >= 500
        hangs += status == 0
        if status not in expected:
            wrong.append(f"{name}: {status}")
    # a body that never arrives: the request timeout (20 s) answers 408
    status = raw_socket(
        port,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + KEY.encode()
        + b'\r\nContent-Length: 500\r\n\r\n{"messages": ',
    )
    tried, right, five, hangs = tried + 1, right + (status == 408), five + (status >= 500), hangs + (status == 0)
    if status != 408:
        wrong.append(f"stalled body: {status}")
    # 300 idle sockets: all closed by the server within keep_alive_s (2 s) + margin, and it still serves
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(300)]
    t0, closed = time.monotonic(), 0
    for s in idle:
        try:
            closed += s.recv(1) == b""
        except (socket.timeout, TimeoutError, ConnectionError):
            pass
        s.close()
    still = request(port, chat("hi", 2))[0]
    tried += 1
    ok = closed == 300 and still == 200
    right, hangs = right + ok, hangs + (not ok)
    if not ok:
        wrong.append(f"idle sockets: {closed}/300 closed, then {still}")
    print(
        f"\nabuse: {tried} tried, {right} answered as expected (4xx with its message; idle sockets closed), {five} 5xx, "
        f"{hangs} hangs"
        + (f"\n  unexpected: {'; '.join(wrong)}" if wrong else "")
        + f"\n  300 idle sockets closed by the server after {time.monotonic() - t0:.1f} s (keep_alive_s=2)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--checkpoint", type=Path, help="a run's checkpoint folder (default: train a tiny one in a temp dir)"
    )
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="serve_load_") as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            t0 = time.perf_counter()
            checkpoint = train_checkpoint(Path(tmp))
            print(f"trained a tiny category checkpoint in {time.perf_counter() - t0:.0f} s: {checkpoint}")
        proc, port = start_server(checkpoint, args.max_new_tokens)
        try:
            load_phase(port, args.requests, args.concurrency)
            head_of_line_phase(port, checkpoint, args.max_new_tokens)
            abuse_phase(port)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
