#!/usr/bin/python3
"""Reference renderings for lfmd's Jinja interpreter (run with /usr/bin/python3 + python3-jinja2).

Renders every (template, case) pair and every snippet with Jinja2 configured the way Hugging Face
transformers renders chat templates, and prints the results as JSON on stdout:

  render_oracle.py --templates DIR [DIR ...] --cases cases.json [--snippets snippets.json]

cases.json:    {"defaults": {...vars...}, "cases": [{"name": str, "vars": {...}}, ...]}
snippets.json: [{"t": template source, "v": {...vars...}}, ...]
Output:        {"renders": [{"template", "case", "ok", "output" | "error_type", "error"}],
                "snippets": [{"index", "ok", "output" | "error_type", "error"}]}
error_type is "raised" for raise_exception(msg) (error = msg), "syntax" or "runtime" otherwise.
"""
import argparse
import datetime
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

# The fixed clock shared with the C++ tests (tests/jinja/oracle_test.cpp).
FIXED_NOW = datetime.datetime(2025, 3, 14, 9, 26, 53)


class Raised(Exception):
    """raise_exception(msg) from a template."""


class AssistantTracker(jinja2.ext.Extension):
    """transformers' {% generation %} tag: renders its body as a call block (own scope)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def make_env():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
    )

    def tojson(x, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise Raised(message)

    def strftime_now(fmt):
        return FIXED_NOW.strftime(fmt)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, source, variables):
    try:
        template = env.from_string(source)
    except Exception as e:  # noqa: BLE001 - any failure is a result to compare
        return {"ok": False, "error_type": "syntax", "error": f"{type(e).__name__}: {e}"}
    try:
        return {"ok": True, "output": template.render(**variables)}
    except Raised as e:
        return {"ok": False, "error_type": "raised", "error": str(e)}
    except RecursionError as e:
        return {"ok": False, "error_type": "runtime", "error": f"RecursionError: {e}"}
    except Exception as e:  # noqa: BLE001
        return {"ok": False, "error_type": "runtime", "error": f"{type(e).__name__}: {e}"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", nargs="*", default=[])
    ap.add_argument("--cases")
    ap.add_argument("--snippets")
    args = ap.parse_args()
    env = make_env()
    out = {"renders": [], "snippets": []}
    if args.cases:
        with open(args.cases, encoding="utf-8") as f:
            spec = json.load(f)
        defaults = spec.get("defaults", {})
        for d in args.templates:
            for name in sorted(os.listdir(d)):
                if not name.endswith(".jinja"):
                    continue
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    source = f.read()
                for case in spec["cases"]:
                    variables = dict(defaults)
                    variables.update(case["vars"])
                    r = render(env, source, variables)
                    r.update({"template": name, "case": case["name"]})
                    out["renders"].append(r)
    if args.snippets:
        with open(args.snippets, encoding="utf-8") as f:
            snippets = json.load(f)
        for i, sn in enumerate(snippets):
            r = render(env, sn["t"], sn.get("v", {}))
            r["index"] = i
            out["snippets"].append(r)
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
