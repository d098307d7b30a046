"""HTTPS through OpenSSL: a self-signed certificate made with the openssl command, and the
openai client trusting it."""
import socket
import ssl
import subprocess
import tempfile
from pathlib import Path

import httpx
import openai
import pytest

from conftest import Server

MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def tls_server():
    d = Path(tempfile.mkdtemp())
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(cafile=str(cert))
    s = Server("--model", MODEL, "--ctx-size", "256", "--tls-cert", str(cert), "--tls-key", str(key), ssl_context=context)
    s.cert = str(cert)
    yield s
    s.stop()


def test_openai_client_over_https(tls_server):
    assert tls_server.base.startswith("https://")
    c = openai.OpenAI(base_url=tls_server.base + "/v1", api_key="x", max_retries=0, http_client=httpx.Client(verify=tls_server.cert))
    r = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert r.choices[0].message.content
    chunks = list(c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True))
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    # Keep-alive over TLS: many requests, one connection pool.
    for _ in range(5):
        assert c.models.list().data[0].id == MODEL


def test_old_protocols_and_plain_http_are_refused(tls_server):
    host, port = tls_server.base[len("https://"):].rsplit(":", 1)
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        old.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with old.wrap_socket(raw, server_hostname="localhost"):
                pass
    # Plain HTTP on the TLS port gets no HTTP answer.
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = raw.recv(100)
        assert not data.startswith(b"HTTP/1.1 200")


def test_a_handshake_trickled_forever_is_timed_out(tls_server):
    """A client that starts a TLS handshake and sends a byte now and then never finishes it:
    the header timeout (10 s) applies from its first byte, so it cannot hold a connection."""
    import time
    host, port = tls_server.base[len("https://"):].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=1) as raw:
        raw.sendall(b"\x16\x03\x01\x02\x00")  # a record header announcing a 512-byte ClientHello
        started, closed = time.time(), False
        while time.time() - started < 20 and not closed:
            try:
                raw.sendall(b"\x01")
                closed = raw.recv(4096) == b""
            except socket.timeout:
                pass
            except OSError:
                closed = True
            time.sleep(0.5)
        assert closed and time.time() - started < 15
