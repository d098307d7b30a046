"""Hostile requests against the real server: each ends in a 4xx with OpenAI's envelope (or
a closed connection), and the server keeps serving. The fast part of the reliability suite."""
import json
import socket
import urllib.error
import urllib.request

import pytest

MODEL = "smollm2-135m-instruct"
HI = [{"role": "user", "content": "hi"}]


def post(server, path, body, raw=False):
    data = body if raw else json.dumps(body).encode()
    req = urllib.request.Request(server.base + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


CASES = [
    ("invalid UTF-8", b'{"model": "m", "messages": [{"role": "user", "content": "\xff\xfe"}]}', "invalid UTF-8"),
    ("lone surrogate", b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}', "lone surrogate"),
    ("100,000 levels", b"[" * 100000 + b"]" * 100000, "nested deeper"),
    ("NaN", b'{"model": "m", "messages": [], "temperature": NaN}', "not valid JSON"),
    ("1e999", b'{"model": "m", "messages": [], "temperature": 1e999}', "out of range"),
    ("top-level string", b'"hi"', "must be a JSON object"),
    ("model with ../ and NUL", json.dumps({"model": "../\u0000etc", "messages": HI}).encode(), "does not exist"),
    ("4,097 messages", json.dumps({"model": MODEL, "messages": HI * 4097}).encode(), "at most 4096 messages"),
    ("10,000 tools", json.dumps({"model": MODEL, "messages": HI, "tools": [
        {"type": "function", "function": {"name": f"f{i}"}} for i in range(10000)]}).encode(), "at most 512 tools"),
    ("n", json.dumps({"model": MODEL, "messages": HI, "n": 1000}).encode(), "'n' must be between 1 and 16, got 1000"),
    ("max_tokens", json.dumps({"model": MODEL, "messages": HI, "max_tokens": 10**12}).encode(), "'max_tokens' must be between"),
    ("top_logprobs", json.dumps({"model": MODEL, "messages": HI, "logprobs": True, "top_logprobs": 99}).encode(), "'top_logprobs' must be between"),
    ("temperature", json.dumps({"model": MODEL, "messages": HI, "temperature": -1}).encode(), "'temperature' must be between"),
    ("penalty", json.dumps({"model": MODEL, "messages": HI, "frequency_penalty": 9}).encode(), "'frequency_penalty' must be between"),
    ("logit_bias id", json.dumps({"model": MODEL, "messages": HI, "logit_bias": {"99999999": 1}}).encode(), "out of range"),
    ("logit_bias value", json.dumps({"model": MODEL, "messages": HI, "logit_bias": {"5": 1000}}).encode(), "between -100 and 100"),
    ("self-referencing $ref", json.dumps({"model": MODEL, "messages": HI, "response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}}}}).encode(), "leads back to itself"),
    ("a loop through anyOf", json.dumps({"model": MODEL, "messages": HI, "response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}}}}).encode(),
     "leads back to itself"),
    ("prompt beyond the context", json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "word " * 5000}]}).encode(),
     "maximum context length is 512 tokens"),
]


@pytest.mark.parametrize("name,body,message", CASES, ids=[c[0] for c in CASES])
def test_hostile_json_and_parameters(server, name, body, message):
    status, reply = post(server, "/v1/chat/completions", body, raw=True)
    assert 400 <= status < 500, (status, reply)
    assert set(reply["error"]) == {"message", "type", "param", "code"} and message in reply["error"]["message"], reply
    assert post(server, "/v1/completions", {"model": MODEL, "prompt": "ok", "max_tokens": 1})[0] == 200


def test_token_ids_outside_the_vocabulary(server):
    status, reply = post(server, "/v1/completions", {"model": MODEL, "prompt": [1, 2, 99999999]})
    assert status == 400 and "out of range" in reply["error"]["message"]


@pytest.mark.parametrize("raw", [
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",                                           # HTTP/2 preface
    b"GET / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
    b"POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n",
    b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n",             # 1 MB request line
    b"GET / HTTP/1.1\r\nHost: localhost\r\n" + b"X: y\r\n" * 10000 + b"\r\n",          # 10,000 headers
    b"GET / HTTP/1.1\r\nHost: localhost\r\nX: a\x00b\r\n\r\n",                          # NUL
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,                    # TLS to the plain port
])
def test_hostile_http_is_refused_and_the_server_lives(server, raw):
    host, port = server.base[len("http://"):].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    assert data == b"" or data.startswith(b"HTTP/1.1 4") or data.startswith(b"HTTP/1.1 5"), data[:100]
    with urllib.request.urlopen(server.base + "/health") as r:
        assert r.status == 200


def test_a_million_one_byte_chunks_hit_the_body_limit(server):
    host, port = server.base[len("http://"):].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"1\r\na\r\n" * 100_000
        try:
            for _ in range(200):  # 20 MB of body, past the 16 MiB limit
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = s.recv(200)
    assert data.startswith(b"HTTP/1.1 413"), data
