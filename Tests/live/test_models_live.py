"""Several models in one server, and the memory check at start."""
import json
import subprocess
import tempfile
import urllib.request

import openai

from conftest import Server, _binary, ROOT


def test_two_models_in_one_server():
    cfg = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    cfg.write("models:\n  - model: smollm2-135m-instruct\n    ctx_size: 512\n  - model: qwen2.5-coder-0.5b-instruct\n    id: coder\n    ctx_size: 1024\n    kv_tokens: 4096\n")
    cfg.close()
    s = Server("--config", cfg.name)
    try:
        c = openai.OpenAI(base_url=s.base + "/v1", api_key="x", max_retries=0, timeout=300)
        assert sorted(m.id for m in c.models.list().data) == ["coder", "smollm2-135m-instruct"]
        for model in ("smollm2-135m-instruct", "coder"):
            r = c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=3)
            assert r.model == model and r.choices[0].message.content is not None
        assert c.models.retrieve("coder").id == "coder"
        try:
            c.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
            assert False, "no error for an unknown model"
        except openai.NotFoundError as e:
            assert e.body["code"] == "model_not_found"
        with urllib.request.urlopen(s.base + "/metrics") as r:
            text = r.read().decode()
        assert 'martlet_kv_blocks_free{model="coder"}' in text and 'martlet_kv_blocks_free{model="smollm2-135m-instruct"}' in text
        assert text.count("# TYPE martlet_kv_blocks_free") == 1
    finally:
        s.stop()


def test_budgets_that_do_not_fit_are_refused():
    r = subprocess.run([_binary(), "serve", "--port", "0", "--kv-tokens", "16000000", "--ctx-size", "8192"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "of memory is available" in r.stderr and "KV cache" in r.stderr and "Lower kv_tokens" in r.stderr
