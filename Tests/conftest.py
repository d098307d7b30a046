"""Starts `martlet serve` on port 0 for the live tests and stops it afterwards."""
import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _binary():
    explicit = os.environ.get("MARTLET_BIN")
    if explicit:
        return explicit
    for build in ("debug", "release"):
        path = ROOT / ".build" / build / "martlet"
        if path.exists():
            return str(path)
    pytest.fail("no martlet binary: run `swift build` first (or set MARTLET_BIN)")


class Server:
    def __init__(self, *args, ssl_context=None):
        self.proc = subprocess.Popen([_binary(), "serve", "--port", "0", *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"(https?)://([^/]+)/v1", line)
        assert match, f"unexpected first line from martlet serve: {line!r}"
        self.base = f"{match.group(1)}://{match.group(2)}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/ready", context=ssl_context) as r:
                    if json.load(r)["status"] == "ready":
                        return
            except Exception:
                pass
            assert self.proc.poll() is None, "martlet serve exited: " + self.proc.stdout.read()
            time.sleep(0.2)
        pytest.fail("martlet serve did not become ready in 120 s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _serving(*args):
    s = Server(*args)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def server():
    yield from _serving("--model", "smollm2-135m-instruct", "--ctx-size", "512", "--kv-tokens", "8192")


@pytest.fixture(scope="session")
def tiny_queue_server():
    yield from _serving("--model", "smollm2-135m-instruct", "--ctx-size", "256", "--max-waiting", "0")


@pytest.fixture(scope="session")
def qwen_server():
    yield from _serving("--model", "qwen2.5-coder-0.5b-instruct", "--ctx-size", "2048", "--kv-tokens", "8192")


@pytest.fixture(scope="session")
def guarded_server():
    yield from _serving("--model", "smollm2-135m-instruct", "--ctx-size", "256", "--api-key", "s3cret",
                        "--cors-origin", "https://chat.example")
