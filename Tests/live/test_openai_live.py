"""The real server on the real default model, through the official `openai` package, curl and
raw sockets."""
import concurrent.futures
import json
import socket
import subprocess
import urllib.request

import openai
import pytest

MODEL = "smollm2-135m-instruct"
HELLO = [{"role": "user", "content": "Name three colours."}]


def post_json(server, path, body):
    req = urllib.request.Request(server.base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def client(server, **kw):
    return openai.OpenAI(base_url=server.base + "/v1", api_key="unused", max_retries=0, **kw)


def test_models(server):
    models = client(server).models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert client(server).models.retrieve(MODEL).id == MODEL


def test_chat_and_usage(server):
    r = client(server).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=12, temperature=0)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.choices[0].message.role == "assistant" and r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.prompt_tokens_details.cached_tokens >= 0
    assert r.system_fingerprint


def test_stream_is_the_fold(server):
    c = client(server)
    whole = c.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=16, temperature=0)
    chunks = list(c.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=16, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole.choices[0].message.content
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert all(ch.usage is None for ch in chunks[:-1])
    # Without include_usage there is no usage chunk.
    plain = list(c.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=4, stream=True))
    assert all(ch.choices for ch in plain)


def test_n_and_seed(server):
    c = client(server)
    r = c.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, n=3, temperature=1.0, seed=11)
    assert [ch.index for ch in r.choices] == [0, 1, 2]
    again = c.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, n=3, temperature=1.0, seed=11)
    assert [ch.message.content for ch in r.choices] == [ch.message.content for ch in again.choices]


def test_stop(server):
    c = client(server)
    free = c.completions.create(model=MODEL, prompt="1, 2, 3, 4, 5,", max_tokens=12, temperature=0).choices[0].text
    assert "7" in free, free
    stopped = c.completions.create(model=MODEL, prompt="1, 2, 3, 4, 5,", max_tokens=12, temperature=0, stop=["7"])
    assert stopped.choices[0].text == free[:free.index("7")]
    assert stopped.choices[0].finish_reason == "stop"


def test_completions_many_prompts(server):
    r = client(server).completions.create(model=MODEL, prompt=["Once upon a time", "The sky is"], max_tokens=5, n=2, temperature=0)
    assert r.object == "text_completion"
    assert [ch.index for ch in r.choices] == [0, 1, 2, 3]
    assert r.choices[0].text == r.choices[1].text and r.choices[2].text == r.choices[3].text
    ids = client(server).completions.create(model=MODEL, prompt=[1, 2, 3], max_tokens=3)
    assert ids.usage.prompt_tokens == 3


def test_sdk_error_classes(server, tiny_queue_server):
    c = client(server)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=MODEL, messages=HELLO, temperature=5)
    assert e.value.body["param"] == "temperature" and "got 5.0" in e.value.body["message"]
    with pytest.raises(openai.NotFoundError) as e:
        c.chat.completions.create(model="gpt-5", messages=HELLO)
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "word " * 600}])
    assert e.value.body["code"] == "context_length_exceeded"
    assert e.value.body["message"].startswith("This model's maximum context length is 512 tokens.")
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=MODEL, messages=HELLO, extra_body={"audio": {"voice": "alloy", "format": "mp3"}})
    assert e.value.body["param"] == "audio"
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=MODEL, messages=HELLO, logit_bias={"999999": 5})
    assert e.value.body["param"] == "logit_bias" and "out of range" in e.value.body["message"]
    with pytest.raises(openai.RateLimitError) as e:
        client(tiny_queue_server).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
    assert e.value.response.headers["retry-after"] == "1"


def test_curl_streams(server):
    body = json.dumps({"model": MODEL, "messages": HELLO, "max_tokens": 6, "stream": True, "temperature": 0})
    out = subprocess.run(["curl", "-sN", server.base + "/v1/chat/completions", "-H", "Content-Type: application/json", "-d", body],
                         capture_output=True, text=True, timeout=120).stdout
    events = [line[6:] for line in out.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert all(json.loads(e)["object"] == "chat.completion.chunk" for e in events[:-1])


def test_32_concurrent_streams_equal_their_twins(server):
    prompts = [[{"role": "user", "content": f"Write one sentence about the number {i}."}] for i in range(32)]
    c = client(server, timeout=600)

    def streamed(m):
        return "".join(ch.choices[0].delta.content or "" for ch in
                       c.chat.completions.create(model=MODEL, messages=m, max_tokens=12, temperature=0, stream=True) if ch.choices)

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        streams = list(pool.map(streamed, prompts))
    twins = [c.chat.completions.create(model=MODEL, messages=m, max_tokens=12, temperature=0).choices[0].message.content for m in prompts]
    assert streams == twins


def test_raw_keep_alive_and_pipelining(server):
    host, port = server.base[len("http://"):].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n" * 3)
    data = b""
    while data.count(b"HTTP/1.1 200 OK") < 3:
        chunk = s.recv(65536)
        assert chunk, "connection closed early"
        data += chunk
    s.close()


def test_logprobs_chat(server):
    c = client(server)
    whole = c.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, temperature=0, logprobs=True, top_logprobs=3)
    content = whole.choices[0].logprobs.content
    assert content and len(content) <= 8
    for item in content:
        assert item.logprob <= 0 and len(item.top_logprobs) == 3
        # Greedy: the chosen token is the most likely one.
        assert item.top_logprobs[0].token == item.token and item.top_logprobs[0].logprob == item.logprob
        assert bytes(item.bytes).decode("utf-8", "replace") == item.token
    assert "".join(i.token for i in content).strip() == whole.choices[0].message.content.strip()
    chunks = list(c.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, temperature=0, logprobs=True,
                                            top_logprobs=3, stream=True))
    streamed = [i for ch in chunks if ch.choices and ch.choices[0].logprobs for i in ch.choices[0].logprobs.content]
    assert [(i.token, i.logprob) for i in streamed] == [(i.token, i.logprob) for i in content]
    plain = c.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
    assert plain.choices[0].logprobs is None


def test_logprobs_completions_and_logit_bias(server):
    c = client(server)
    r = c.completions.create(model=MODEL, prompt="The sky is", max_tokens=4, temperature=0, logprobs=2)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 4
    assert "".join(lp.tokens) == r.choices[0].text and lp.text_offset[0] == 0
    assert all(len(t) == 2 for t in lp.top_logprobs)
    ids = post_json(server, "/tokenize", {"prompt": r.choices[0].text, "add_special_tokens": False})["tokens"]
    # Forbid the greedy first token: the first token changes.
    banned = c.completions.create(model=MODEL, prompt="The sky is", max_tokens=4, temperature=0, logit_bias={str(ids[0]): -100})
    assert not banned.choices[0].text.startswith(lp.tokens[0])
    # Force a token.
    forced = c.completions.create(model=MODEL, prompt="The sky is", max_tokens=3, temperature=0, logit_bias={str(ids[0]): 100})
    assert forced.choices[0].text == lp.tokens[0] * 3


def test_tokenize_detokenize(server):
    c = client(server)
    t = post_json(server, "/tokenize", {"prompt": "Hello world"})
    assert t["count"] == len(t["tokens"]) and t["max_model_len"] == 512
    assert post_json(server, "/detokenize", {"tokens": t["tokens"]})["prompt"] == "Hello world"
    chat = post_json(server, "/tokenize", {"messages": HELLO})
    usage = c.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=1).usage
    assert chat["count"] == usage.prompt_tokens


QWEN = "qwen2.5-coder-0.5b-instruct"
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city",
                                                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def test_tool_calls_two_rounds_and_streamed(qwen_server):
    c = client(qwen_server, timeout=600)
    ask = [{"role": "user", "content": "What is the weather in Paris today?"}]
    r = c.chat.completions.create(model=QWEN, messages=ask, tools=[WEATHER_TOOL], temperature=0, max_tokens=80)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.id.startswith("call_") and call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    # Streamed: the deltas fold to the same call.
    chunks = list(c.chat.completions.create(model=QWEN, messages=ask, tools=[WEATHER_TOOL], temperature=0, max_tokens=80, stream=True))
    deltas = [tc for ch in chunks if ch.choices and ch.choices[0].delta.tool_calls for tc in ch.choices[0].delta.tool_calls]
    assert deltas[0].index == 0 and deltas[0].id.startswith("call_") and deltas[0].function.name == "get_weather"
    assert "".join(d.function.arguments or "" for d in deltas) == call.function.arguments
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["tool_calls"]

    # Second round: the tool's answer goes back, the model answers in words.
    follow = ask + [choice.message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"city": "Paris", "temperature_c": 21, "sky": "sunny"})}]
    answer = c.chat.completions.create(model=QWEN, messages=follow, tools=[WEATHER_TOOL], temperature=0, max_tokens=60)
    assert answer.choices[0].message.tool_calls is None
    assert "21" in answer.choices[0].message.content

    # tool_choice none: no parsing, the text stays content.
    none = c.chat.completions.create(model=QWEN, messages=ask, tools=[WEATHER_TOOL], tool_choice="none", temperature=0, max_tokens=40)
    assert none.choices[0].message.tool_calls is None and none.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=QWEN, messages=ask, tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "nope"}})
    assert e.value.body["param"] == "tool_choice" and "not among the tools" in e.value.body["message"]


def test_structured_output_parse_with_pydantic(qwen_server):
    import pydantic

    class Person(pydantic.BaseModel):
        name: str
        born: int
        fields: list[str]

    c = client(qwen_server, timeout=600)
    msgs = [{"role": "user", "content": "Ada Lovelace was born in 1815 and worked on mathematics and computing. Describe her."}]
    r = c.chat.completions.parse(model=QWEN, messages=msgs, response_format=Person, temperature=0, max_tokens=120)
    person = r.choices[0].message.parsed
    assert isinstance(person, Person) and r.choices[0].finish_reason == "stop"
    # Streamed, the same document.
    chunks = list(c.chat.completions.create(model=QWEN, messages=msgs, temperature=0, max_tokens=120, stream=True,
                                            response_format={"type": "json_schema", "json_schema": {
                                                "name": "Person", "strict": True, "schema": Person.model_json_schema()}}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert Person.model_validate_json(text) == person
    # json_object: any object; the default model too.
    obj = c.chat.completions.create(
        model=QWEN, messages=[{"role": "user", "content": "List two fruits as JSON."}], response_format={"type": "json_object"},
        temperature=0, max_tokens=60)
    assert isinstance(json.loads(obj.choices[0].message.content), dict)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=QWEN, messages=msgs, response_format={"type": "json_schema", "json_schema": {
            "name": "x", "schema": {"type": "string", "pattern": "^a+$"}}})
    assert e.value.body["code"] == "unsupported_schema" and "pattern" in e.value.body["message"]


def test_forced_tool_choice(qwen_server):
    c = client(qwen_server, timeout=600)
    add = {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {
        "a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"], "additionalProperties": False}}}
    msgs = [{"role": "user", "content": "Tell me a joke about the sea."}]
    for choice in ({"type": "function", "function": {"name": "add"}}, "required"):
        r = c.chat.completions.create(model=QWEN, messages=msgs, tools=[WEATHER_TOOL, add], tool_choice=choice, temperature=0, max_tokens=60)
        call = r.choices[0].message.tool_calls[0]
        assert r.choices[0].finish_reason == "tool_calls"
        args = json.loads(call.function.arguments)
        if choice != "required":
            assert call.function.name == "add" and set(args) == {"a", "b"} and all(isinstance(v, int) for v in args.values())
        else:
            assert call.function.name in ("add", "get_weather")


def test_echo(server):
    c = client(server)
    plain = c.completions.create(model=MODEL, prompt="The sky is", max_tokens=4, temperature=0)
    echoed = c.completions.create(model=MODEL, prompt="The sky is", max_tokens=4, temperature=0, echo=True)
    assert echoed.choices[0].text == "The sky is" + plain.choices[0].text
    lp = c.completions.create(model=MODEL, prompt="The sky is", max_tokens=4, temperature=0, echo=True, logprobs=2).choices[0]
    prompt_ids = post_json(server, "/tokenize", {"prompt": "The sky is"})["tokens"]
    n = len(prompt_ids)
    assert len(lp.logprobs.tokens) == n + 4 and "".join(lp.logprobs.tokens) == lp.text
    assert lp.logprobs.token_logprobs[0] is None and all(x <= 0 for x in lp.logprobs.token_logprobs[1:])
    assert lp.logprobs.top_logprobs[0] is None and all(len(t) == 2 for t in lp.logprobs.top_logprobs[1:])
    assert lp.logprobs.text_offset == sorted(lp.logprobs.text_offset) and lp.logprobs.text_offset[0] == 0
    streamed = list(c.completions.create(model=MODEL, prompt="The sky is", max_tokens=4, temperature=0, echo=True, logprobs=2, stream=True))
    assert "".join(ch.choices[0].text for ch in streamed if ch.choices) == lp.text
    assert [t for ch in streamed if ch.choices and ch.choices[0].logprobs for t in ch.choices[0].logprobs.token_logprobs] == lp.logprobs.token_logprobs
