"""`refusal-lab serve` exposed: API key, locked overrides, limits and every malformed request,
against the real server on 127.0.0.1 with real clients (urllib, raw sockets, the openai client)."""

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from refusal_lab.commands import serve as serve_command
from refusal_lab.config import ServeConfig as ServerConfig
from refusal_lab.steering import policy
from refusal_lab.steering.server import ServerThread
from refusal_lab.steering.server_engine import Engine

HELLO = {"messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 2}


def strict_json(data: bytes):
    """json.loads that fails on NaN/Infinity: what a strict client (or JSON.parse) accepts."""

    def bad(name):
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(data, parse_constant=bad)


def call(url, body=None, raw: bytes | None = None, key: str | None = None, path="/chat/completions"):
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    request = urllib.request.Request(
        url + path, data=data, headers=headers, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, strict_json(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, strict_json(exc.read())


def raw_http(url: str, head: bytes, body: bytes = b"", timeout: float = 20.0) -> tuple[int, bytes]:
    """Send bytes as they are (headers no client library would send); (status, body) of the answer."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head + b"\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and b"connection: close" not in data.lower() and data.endswith(b"}"):
                break
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def head(length: str, path="/v1/chat/completions") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
        f"Connection: close\r\n"
    ).encode()


@pytest.fixture(scope="module")
def engine(model_and_tokenizer):
    model, tok = model_and_tokenizer
    return Engine(model, tok, policy.Policy(scheme="category"), "tiny-steer", max_new_tokens=8, max_prompt_tokens=60)


@pytest.fixture(scope="module")
def open_server(engine):
    srv = ServerThread(engine, ServerConfig(port=0, request_timeout_s=3.0, keep_alive_s=1.0))
    yield srv.url
    srv.close()


def test_api_key_required_and_accepted(engine):
    openai = pytest.importorskip("openai")
    srv = ServerThread(engine, ServerConfig(port=0), api_key="s3cret-key")
    try:
        assert call(srv.url, HELLO)[0] == 401
        code, payload = call(srv.url, HELLO, key="wrong")
        assert code == 401 and "API key wrong" in payload["error"]["message"] and "s3cret" not in json.dumps(payload)
        assert call(srv.url, path="/models")[0] == 401
        assert call(srv.url, HELLO, key="s3cret-key")[0] == 200
        client = openai.OpenAI(base_url=srv.url, api_key="s3cret-key")
        assert [m.id for m in client.models.list().data] == ["tiny-steer"]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=srv.url, api_key="nope", max_retries=0).models.list()
    finally:
        srv.close()


def test_locked_policy_refuses_overrides(engine):
    off = ServerThread(engine, ServerConfig(port=0, overrides="off"))
    listed = ServerThread(
        engine, ServerConfig(port=0, overrides="allowed", override_ranges={"threshold": [0.2, 0.8], "temperature": []})
    )
    try:
        code, payload = call(off.url, {**HELLO, "refusal_lab": {"threshold": 1.0}})
        assert code == 403 and "overrides are turned off" in payload["error"]["message"]
        assert call(off.url, HELLO)[0] == 200  # no override: served as usual
        ok, answer = call(listed.url, {**HELLO, "refusal_lab": {"threshold": 0.5}})
        assert ok == 200 and answer["refusal_lab"]["policy"]["threshold"] == 0.5
        code, payload = call(listed.url, {**HELLO, "refusal_lab": {"threshold": 1.0}})
        assert code == 403 and "threshold only in [0.2, 0.8]" in payload["error"]["message"]
        code, payload = call(listed.url, {**HELLO, "refusal_lab": {"biases": {"respond": 100}}})
        assert code == 403 and "does not allow overriding 'biases'" in payload["error"]["message"]
        assert call(listed.url, {**HELLO, "refusal_lab": {"temperature": 2.0}})[0] == 200
    finally:
        off.close()
        listed.close()


NESTED = b'{"messages": ' + b"[" * 5000 + b"]" * 5000 + b"}"
BAD_BODIES = [  # (body, raw bytes, status, fragment of the message)
    (None, b"{not json", 400, "not valid JSON"),
    (None, b"\xff\xfe\x00", 400, "not valid JSON"),
    (None, NESTED, 400, "nested too deeply"),
    (None, b'{"messages": ' + b"[" * 40 + b"]" * 40 + b"}", 400, "nested too deeply"),
    (
        None,
        b'{"messages": [{"role": "user", "content": "hi"}], "refusal_lab": {"threshold": NaN}}',
        400,
        "only finite numbers",
    ),
    (
        None,
        b'{"messages": [{"role": "user", "content": "hi"}], "refusal_lab": {"biases": {"respond": Infinity}}}',
        400,
        "only finite numbers",
    ),
    (
        None,
        b'{"messages": [{"role": "user", "content": "hi"}], "refusal_lab": {"biases": {"respond": -1e999}}}',
        400,
        "only finite numbers",
    ),
    (
        None,
        b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": ' + b"9" * 5000 + b"}",
        400,
        "not valid JSON",
    ),
    ([1, 2], None, 400, "must be a JSON object"),
    ({"messages": "hi"}, None, 400, "messages: expected a non-empty list"),
    (
        {"messages": [{"role": "user", "content": 5}]},
        None,
        400,
        "expected a string or a list of text parts, got integer",
    ),
    ({**HELLO, "stream": "yes"}, None, 400, "stream: expected true or false"),
    ({**HELLO, "max_tokens": "5"}, None, 400, "max_tokens='5': must be a positive integer"),
    ({**HELLO, "max_tokens": 0}, None, 400, "max_tokens=0: must be a positive integer"),
    ({**HELLO, "max_tokens": -5}, None, 400, "max_tokens=-5: must be a positive integer"),
    ({**HELLO, "max_tokens": 2.5}, None, 400, "must be a positive integer"),
    ({**HELLO, "max_tokens": 9}, None, 400, "above this server's limit of 8"),
    ({**HELLO, "max_completion_tokens": 10**6}, None, 400, "above this server's limit of 8"),
    ({**HELLO, "model": 5}, None, 400, "model: expected a string"),
    ({**HELLO, "model": "gpt-4o"}, None, 404, "model 'gpt-4o' does not exist here"),
    ({**HELLO, "n": 2}, None, 400, "use n=1"),
    ({**HELLO, "stream_options": [1]}, None, 400, "stream_options: expected an object"),
    ({**HELLO, "refusal_lab": {"threshold": "0.5"}}, None, 400, "expected a number"),
    ({**HELLO, "refusal_lab": {"threshold": 3}}, None, 400, "threshold=3"),
    ({"messages": [{"role": "user", "content": "word " * 400}]}, None, 400, "at most 60 prompt tokens"),
    ({"messages": [{"role": "user", "content": "x" * 200_000}]}, None, 400, "at most 60 prompt tokens"),
]


@pytest.mark.parametrize("body,raw,status,fragment", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_malformed_requests_get_their_4xx(open_server, body, raw, status, fragment):
    code, payload = call(open_server, body, raw)  # strict_json: the answer itself is valid JSON
    assert code == status and fragment in payload["error"]["message"], payload
    assert call(open_server, HELLO)[0] == 200  # and the server lives on


@pytest.mark.parametrize("length", ["abc", "-5", "1e3", "99999999999999999999999"])
def test_bad_content_length_is_400_not_500_or_a_hang(open_server, length):
    status, _ = raw_http(open_server, head(length), b'{"messages": []}')
    assert status in (400, 413)
    assert call(open_server, HELLO)[0] == 200


def test_a_body_above_the_limit_is_413_before_it_is_read(open_server):
    status, body = raw_http(open_server, head(str(2 << 20)), b"{")
    assert status == 413 and b"exceeds this server's limit of 1048576 bytes" in body


def test_a_body_that_never_arrives_times_out(open_server):
    t0 = time.monotonic()
    status, body = raw_http(open_server, head("500"), b'{"messages": ')  # promises 500 bytes, sends 13
    assert status == 408 and b"request_timeout_s=3.0" in body and time.monotonic() - t0 < 10


def test_idle_connections_are_closed(open_server):
    host, port = open_server.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as idle:
        t0 = time.monotonic()
        assert idle.recv(10) == b""  # closed by the server, not by our timeout
        assert 0.5 < time.monotonic() - t0 < 5


def test_connection_cap_answers_503(engine):
    srv = ServerThread(engine, ServerConfig(port=0, max_connections=2, keep_alive_s=30))
    host, port = srv.url.split("//")[1].split("/")[0].split(":")
    socks = [socket.create_connection((host, int(port))) for _ in range(2)]
    try:
        time.sleep(0.2)
        with pytest.raises(urllib.error.HTTPError) as err:  # uvicorn's own plain-text 503
            urllib.request.urlopen(srv.url + "/models", timeout=10)
        assert err.value.code == 503
        for s in socks:
            s.close()
        time.sleep(0.2)
        assert call(srv.url, HELLO)[0] == 200
    finally:
        srv.close()


def test_unknown_routes_and_models(open_server):
    code, payload = call(open_server.replace("/v1", "/v2"), path="/things")
    assert code == 404 and "POST /v1/chat/completions" in payload["error"]["message"]
    assert call(open_server, path="/models/other")[0] == 404
    assert call(open_server, path="/models/tiny-steer")[1]["id"] == "tiny-steer"


def test_stream_errors_come_before_the_first_byte(open_server):
    code, payload = call(open_server, {**HELLO, "stream": True, "max_tokens": -1})
    assert code == 400 and "max_tokens=-1" in payload["error"]["message"]
    code, payload = call(
        open_server,
        None,
        b'{"stream": true, "messages": [{"role": "user", "content": "hi"}], "refusal_lab": {"threshold": NaN}}',
    )
    assert code == 400 and "only finite numbers" in payload["error"]["message"]


def test_bad_start_settings_exit_2_before_loading(trained_run, capsys):
    ckpt = str(trained_run / "checkpoint")
    assert serve_command.main([f"checkpoint={ckpt}", "max_new_tokens=-5", "port=70000"]) == 2
    err = capsys.readouterr().err
    assert "max_new_tokens=-5: must be >= 1" in err and "port=70000: must be between 0 and 65535" in err
    assert (
        serve_command.main(
            [
                f"checkpoint={ckpt}",
                "overrides=allowed",
                "override_ranges.threshold=[0.9,0.1]",
                "request_timeout_s=nan",
                "api_key_env=not a name",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "override_ranges.threshold=[0.9, 0.1]: expected [lo, hi]" in err
        and "request_timeout_s=nan: must be a finite number" in err
        and "api_key_env='not a name'" in err
    )
    assert serve_command.main([f"checkpoint={ckpt}", "max_new_tokens=100000"]) == 2
    assert "the model has 512 positions; use at most 510" in capsys.readouterr().err
    assert serve_command.main(["checkpoint=/nonexistent"]) == 2
    assert "checkpoint='/nonexistent': no model there" in capsys.readouterr().err


@pytest.mark.unit
def test_validation_rules_are_pure():
    from refusal_lab.steering import server_requests as req

    assert req.make_lock("off").mode == "off" and req.make_lock("any").mode == "any"
    lock = req.make_lock("allowed", {"threshold": [0.2, 0.8], "biases": [-2, 2], "rule": []})
    assert lock.ranges == {"threshold": (0.2, 0.8), "biases": (-2.0, 2.0), "rule": (None, None)}
    req.check_override(lock, {"biases": {"respond": 1.5}, "rule": "bias"})
    with pytest.raises(req.RequestError) as err:
        req.check_override(lock, {"biases": {"respond": 1.5, "humanizing": 3}})
    assert err.value.status == 403
    for mode, ranges in (
        ("allowed", {"thresh": [0, 1]}),
        ("allowed", {"threshold": [0.9, 0.1]}),
        ("allowed", {"threshold": [0.1]}),
        ("allowed", {}),
        ("some", {}),
    ):
        with pytest.raises(ValueError):
            req.make_lock(mode, ranges)
    with pytest.raises(req.RequestError, match="only finite"):
        req.parse_body(b'{"a": [1, NaN]}')
    assert req.parse_body(b'{"a": [1.5, {"b": null}]}') == {"a": [1.5, {"b": None}]}


def test_a_short_request_runs_between_the_tokens_of_a_long_one(model_and_tokenizer):
    """The 2-token request finishes while a long stream is still generating, and interleaving changes
    no output: both texts equal the ones served alone."""
    import http.client
    import threading

    model, tok = model_and_tokenizer
    srv = ServerThread(Engine(model, tok, policy.Policy(scheme="category"), "tiny-steer", max_new_tokens=200))
    long_body = {"messages": [{"role": "user", "content": " ".join(["bread"] * 100)}], "max_tokens": 200}
    try:
        solo_long, solo_short = call(srv.url, long_body)[1], call(srv.url, HELLO)[1]
        assert solo_long["usage"]["completion_tokens"] > 100  # long enough to interleave with
        host, port = srv.url.split("//")[1].split("/")[0].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request(
            "POST",
            "/v1/chat/completions",
            json.dumps({**long_body, "stream": True}),
            {"Content-Type": "application/json"},
        )
        stream = conn.getresponse()
        received: list[tuple[float, bytes]] = []  # (arrival time, line) of the long stream, read as it comes
        reader = threading.Thread(
            target=lambda: received.extend((time.monotonic(), line) for line in iter(stream.readline, b""))
        )
        reader.start()
        while sum(b'"content"' in line for _, line in received) < 3:  # generation is under way
            time.sleep(0.005)
        short = call(srv.url, HELLO)[1]
        short_done = time.monotonic()
        reader.join(timeout=60)
        conn.close()
        last = next(t for t, line in received if b"[DONE]" in line)
        assert short_done < last  # answered while the long one was still generating, not after it
        pieces = [
            json.loads(line[6:])["choices"][0]["delta"].get("content", "")
            for _, line in received
            if line.startswith(b"data: {") and json.loads(line[6:]).get("choices")
        ]
        assert "".join(pieces).strip() == solo_long["choices"][0]["message"]["content"]
        assert short["choices"][0]["message"]["content"] == solo_short["choices"][0]["message"]["content"]
    finally:
        srv.close()
