"""Renders the template cases in Tests/TemplatesTests/Data/jinja-cases.input.json with Python's
jinja2, configured as Hugging Face transformers configures it for chat templates, and writes
the expected outputs (or errors) to Tests/TemplatesTests/Data/jinja-cases.json.

usage: python3 scripts/make-jinja-cases.py        (needs Jinja2 3.x)
"""
import json
from datetime import datetime
from pathlib import Path

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

root = Path(__file__).resolve().parent.parent
data = root / "Tests" / "TemplatesTests" / "Data"


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime(2026, 1, 15).strftime(fmt)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

cases = json.loads((data / "jinja-cases.input.json").read_text())
out = []
for case in cases:
    result = {"name": case["name"], "template": case["template"], "context": case.get("context", {})}
    try:
        result["expected"] = env.from_string(case["template"]).render(**result["context"])
    except Exception as e:  # noqa: BLE001 - the error class is part of what we record
        result["error"] = type(e).__name__
    out.append(result)
(data / "jinja-cases.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
print(f"{len(out)} cases")
