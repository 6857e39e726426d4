"""The OpenAI-compatible server on 127.0.0.1, driven by the real `openai` client and by urllib."""

import json
import urllib.error
import urllib.request

import pytest

from refusal_lab.steering import policy
from refusal_lab.steering.server import ServerThread
from refusal_lab.steering.server_engine import Engine


@pytest.fixture(scope="module")
def server(model_and_tokenizer):
    model, tok = model_and_tokenizer
    srv = ServerThread(Engine(model, tok, policy.Policy(scheme="category"), "tiny-steer", max_new_tokens=12))
    yield srv.url
    srv.close()


def post(base, body, raw: bytes | None = None):
    req = urllib.request.Request(
        base + "/chat/completions",
        data=raw if raw is not None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_openai_client_unchanged(server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server, api_key="unused")
    assert [m.id for m in client.models.list().data] == ["tiny-steer"]
    resp = client.chat.completions.create(
        model="tiny-steer", messages=[{"role": "user", "content": "How do I bake bread?"}], max_tokens=8
    )
    info = resp.model_extra["refusal_lab"]
    assert set(info["probs"]) == set(policy.Policy(scheme="category").tokens)
    assert abs(sum(info["probs"].values()) - 1) < 0.5 and info["control_token"] in info["probs"]
    text = resp.choices[0].message.content
    assert isinstance(text, str) and not any(t in text for t in info["probs"])
    # a per-request override: threshold 0 refuses everything, with the top refusal token
    forced = client.chat.completions.create(
        model="tiny-steer",
        messages=[{"role": "user", "content": "How do I bake bread?"}],
        max_tokens=4,
        extra_body={"refusal_lab": {"threshold": 0.0}},
    )
    info = forced.model_extra["refusal_lab"]
    top = max((t for t in info["probs"] if t != "[respond]"), key=info["probs"].get)
    assert info["refused"] and info["control_token"] == top and info["policy"]["rule"] == "threshold"
    # a huge bias on [respond] answers everything
    answered = client.chat.completions.create(
        model="tiny-steer",
        messages=[{"role": "user", "content": "Do you have feelings?"}],
        max_tokens=4,
        extra_body={"refusal_lab": {"biases": {"respond": 100}}},
    )
    assert answered.model_extra["refusal_lab"]["control_token"] == "[respond]"
    # streaming: the text arrives in chunks, the decision in the first chunk
    stream = client.chat.completions.create(
        model="tiny-steer", messages=[{"role": "user", "content": "How do I bake bread?"}], max_tokens=8, stream=True
    )
    chunks = list(stream)
    assert chunks[0].model_extra["refusal_lab"]["control_token"] == resp.model_extra["refusal_lab"]["control_token"]
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces).strip() == text
    if len(text.split()) > 2:  # token by token, not one block at the end
        assert len(pieces) >= 2
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    # a bad override is a 400 the client raises as BadRequestError, naming the key and the fix
    with pytest.raises(openai.BadRequestError, match="threshold=3"):
        client.chat.completions.create(
            model="tiny-steer",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"refusal_lab": {"threshold": 3}},
        )


@pytest.mark.parametrize(
    "body,raw,status,fragment",
    [
        (None, b"{not json", 400, "not valid JSON"),
        ([1, 2], None, 400, "must be a JSON object"),
        ({}, None, 400, "messages: expected a non-empty list"),
        ({"messages": [{"role": "robot", "content": "x"}]}, None, 400, "messages[0]: expected an object with role"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, None, 400, "only text parts"),
        (
            {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
            None,
            400,
            "max_tokens=0: must be a positive integer",
        ),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, None, 400, "the last message must come from the user"),
        (
            {"messages": [{"role": "user", "content": "hi"}], "refusal_lab": {"biases": {"[nope]": 1}}},
            None,
            400,
            "not a control token",
        ),
        (
            {"messages": [{"role": "user", "content": "hi"}], "refusal_lab": "strict"},
            None,
            400,
            "expected a mapping of policy keys",
        ),
    ],
)
def test_bad_requests_get_4xx_and_the_server_lives_on(server, body, raw, status, fragment):
    code, payload = post(server, body, raw)
    assert code == status and fragment in payload["error"]["message"]
    ok, answer = post(
        server, {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}], "max_tokens": 3}
    )
    assert ok == 200 and answer["choices"][0]["message"]["role"] == "assistant"


def test_unknown_routes(server):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server.replace("/v1", "/v2/things"), timeout=10)
    assert err.value.code == 404
