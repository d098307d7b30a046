"""The chat page at `/`, driven in headless Chromium over the DevTools protocol."""
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
import websocket


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_chat_page_streams_an_answer(guarded_server):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
    port = free_port()
    profile = tempfile.mkdtemp()
    proc = subprocess.Popen([browser, "--headless=new", "--no-sandbox", "--disable-gpu", f"--remote-debugging-port={port}",
                             f"--user-data-dir={profile}", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        target = None
        while time.time() < deadline and target is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json") as r:
                    target = next(t for t in json.load(r) if t["type"] == "page")
            except Exception:
                time.sleep(0.3)
        assert target, "Chromium did not start"
        ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30)
        ids = iter(range(1, 10_000))

        def cdp(method, **params):
            i = next(ids)
            ws.send(json.dumps({"id": i, "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == i:
                    return msg.get("result", {})

        def js(expr):
            return cdp("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True).get("result", {}).get("value")

        cdp("Page.enable")
        cdp("Page.navigate", url=guarded_server.base + "/")
        time.sleep(1.5)
        # The key is needed for the API: typed into the page, as a user would.
        js("""(() => { const k = document.getElementById('key'); k.value = 's3cret'; k.onchange(); return true; })()""")
        deadline = time.time() + 20
        while time.time() < deadline and js("document.getElementById('model').textContent") != "smollm2-135m-instruct":
            time.sleep(0.3)
        assert js("document.getElementById('model').textContent") == "smollm2-135m-instruct"
        js("""(() => { document.getElementById('input').value = 'Name a colour.'; document.getElementById('send').click(); return true; })()""")
        deadline = time.time() + 120
        state = None
        while time.time() < deadline:
            state = js("(document.querySelector('.msg.assistant, .msg.error') || {}).getAttribute ? document.querySelector('.msg.assistant, .msg.error').getAttribute('data-state') : null")
            if state in ("done", "error"):
                break
            time.sleep(0.3)
        answer = js("document.querySelector('.msg.assistant .answer, .msg.error').textContent")
        assert state == "done", answer
        assert answer.strip()
        ws.close()
    finally:
        proc.kill()
        shutil.rmtree(profile, ignore_errors=True)
