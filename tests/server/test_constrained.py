"""Constrained decoding end to end: response_format json_schema / json_object and tool_choice.

The demo model has random weights and never produces valid JSON by itself, so every valid output
here is the grammar's doing. Outputs are checked by an independent validator, Debian's
python3-jsonschema (Draft 2020-12), never by lfmd's own code. Exits 77 (skipped) without it.
"""

import datetime
import json
import os
import re
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lfmd_server import LfmdServer  # noqa: E402

try:
    import jsonschema
except ImportError:  # pragma: no cover
    print("SKIP: python3-jsonschema is not installed (scripts/install-deps.sh)")
    sys.exit(77)

ADDRESS = {"type": "object", "properties": {"street": {"type": "string", "maxLength": 24},
                                            "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
           "required": ["street", "zip"], "additionalProperties": False}

SCHEMAS = {
    "person": {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 20}, "age": {"type": "integer"},
        "email": {"type": "string", "pattern": "^[a-z]{1,8}@[a-z]{1,8}\\.(com|org)$"},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 4}},
        "required": ["name", "age", "email"], "additionalProperties": False},
    "nested_address": {"type": "object", "properties": {"home": ADDRESS, "work": ADDRESS},
                       "required": ["home"]},
    "array_of_objects": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
        "type": "object", "properties": {"id": {"type": "integer"}, "ok": {"type": "boolean"}},
        "required": ["id", "ok"]}},
    "string_enum": {"enum": ["red", "green", "blue", "dark \"grey\""]},
    "const": {"const": {"version": 2, "kind": "fixed"}},
    "nullable_string": {"type": ["string", "null"], "maxLength": 10},
    "anyof_scalars": {"anyOf": [{"type": "number"}, {"type": "boolean"},
                                {"type": "object", "properties": {"n": {"type": "null"}}, "required": ["n"]}]},
    "oneof_discriminated": {"oneOf": [
        {"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number"}},
         "required": ["kind", "r"]},
        {"type": "object", "properties": {"kind": {"const": "rect"}, "w": {"type": "integer"},
                                          "h": {"type": "integer"}}, "required": ["kind", "w", "h"]}]},
    "recursive_tree": {"$ref": "#/$defs/node", "$defs": {"node": {
        "type": "object", "properties": {"label": {"type": "string", "maxLength": 6},
                                         "children": {"type": "array", "items": {"$ref": "#/$defs/node"},
                                                      "maxItems": 2}},
        "required": ["label", "children"]}}},
    "tuple": {"type": "array", "prefixItems": [{"type": "string", "maxLength": 5}, {"type": "integer"},
                                               {"type": "boolean"}], "items": False, "minItems": 3},
    "boolean": {"type": "boolean"},
    "number": {"type": "number"},
    "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2,
                                          "maxItems": 2}, "minItems": 2, "maxItems": 3},
    "phone_pattern": {"type": "string", "pattern": "^\\d{3}-\\d{4}$"},
    "alternation_pattern": {"type": "string", "pattern": "^(cat|dog|bird)s?( [A-Z][a-z]{0,5})?$"},
    "additional_required": {"type": "object", "properties": {"a": {"type": "integer"}},
                            "required": ["a", "extra"], "additionalProperties": {"type": "boolean"}},
    "mixed_enum": {"enum": [1, "two", None, True, {"a": [1, 2]}, 2.5]},
    "length_bounds": {"type": "string", "minLength": 3, "maxLength": 5},
    "all_optional": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "string", "maxLength": 8},
                                                       "z": {"type": "array", "items": {"type": "null"}}}},
    "linked_list_root_ref": {"type": "object", "properties": {
        "value": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
        "required": ["value", "next"]},
    "draft7_definitions": {"definitions": {"color": {"type": "string", "enum": ["c", "m", "y", "k"]}},
                           "type": "object", "properties": {"fg": {"$ref": "#/definitions/color"},
                                                            "bg": {"$ref": "#/definitions/color"}},
                           "required": ["fg", "bg"]},
    "any_value": {},
    "free_items": {"type": "array", "items": True, "maxItems": 3},
    "int_or_bool": {"type": ["integer", "boolean"]},
    "email_like_pattern": {"type": "string", "pattern": "^[\\w.+-]{1,10}@[a-z]{2,6}\\.(com|org|net)$"},
    "escapes_pattern": {"type": "string", "pattern": "^a\"b\\\\c[\\t\\n]?$"},
    "formats": {"type": "object", "properties": {
        "day": {"type": "string", "format": "date"}, "at": {"type": "string", "format": "date-time"},
        "t": {"type": "string", "format": "time"}, "id": {"type": "string", "format": "uuid"},
        "mail": {"type": "string", "format": "email"}}, "required": ["day", "at", "t", "id", "mail"]},
    "ranges": {"type": "object", "properties": {
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "t": {"type": "number", "exclusiveMinimum": -5.5, "maximum": 3},
        "n": {"type": "integer", "minimum": -20, "exclusiveMaximum": -3},
        "big": {"type": "integer", "minimum": 1000}}, "required": ["age", "t", "n", "big"]},
    "unbounded_strings": {"type": "object", "properties": {"title": {"type": "string"},
                                                           "body": {"type": "string"}},
                          "required": ["title", "body"]},
}


def post(srv, body, timeout=120):
    """(status, parsed JSON body), or for stream=true (status, [chunk objects])."""
    status, _, data = srv.chat(body, timeout=timeout)
    if body.get("stream") and status == 200:
        lines = data.decode().split("\n")
        events = [ln[6:] for ln in lines if ln.startswith("data: ")]
        assert events and events[-1] == "[DONE]", data[-200:]
        return status, [json.loads(e) for e in events[:-1]]
    return status, json.loads(data)


def check_formats(schema, value):
    """Formats checked with the standard library (jsonschema checks some only with optional
    packages installed)."""
    if isinstance(schema, dict):
        fmt = schema.get("format")
        if fmt and isinstance(value, str):
            {"date": datetime.date.fromisoformat, "time": datetime.time.fromisoformat,
             "date-time": datetime.datetime.fromisoformat, "uuid": uuid.UUID,
             "email": lambda v: re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", v) or fail(v)}[fmt](value)
        for k, sub in schema.get("properties", {}).items():
            if isinstance(value, dict) and k in value:
                check_formats(sub, value[k])


def fail(v):
    raise ValueError(f"bad value {v!r}")


def validate(schema, text):
    value = json.loads(text)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(value)
    check_formats(schema, value)
    return value


class ConstrainedDecoding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = LfmdServer().start(timeout=120)  # the demo model

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def chat(self, body, expect=200):
        body = {"messages": [{"role": "user", "content": "Answer in JSON."}], **body}
        status, data = post(self.srv, body)
        self.assertEqual(status, expect, data)
        return data

    def schema_request(self, schema, expect=200, **kw):
        return self.chat({"response_format": {"type": "json_schema", "json_schema": {
            "name": "out", "schema": schema, "strict": True}}, **kw}, expect=expect)

    def test_schemas_greedy_and_sampled(self):
        n = 0
        for name, schema in SCHEMAS.items():
            jsonschema.Draft202012Validator.check_schema(schema)
            for temperature, seed in ((0, 0), (1, 11), (1, 22), (1, 33)):
                with self.subTest(schema=name, temperature=temperature, seed=seed):
                    data = self.schema_request(schema, temperature=temperature, seed=seed, max_tokens=160)
                    choice = data["choices"][0]
                    text = choice["message"]["content"]
                    self.assertEqual(choice["finish_reason"], "stop", text)
                    try:
                        validate(schema, text)
                    except (ValueError, jsonschema.ValidationError) as e:
                        self.fail(f"{name} T={temperature} seed={seed}: {e}\n{text!r}")
                    n += 1
        self.assertGreaterEqual(n, 100)

    def test_streamed_output_is_the_same_json(self):
        schema = SCHEMAS["person"]
        rf = {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}
        body = {"messages": [{"role": "user", "content": "x"}], "response_format": rf, "temperature": 1,
                "seed": 7, "max_tokens": 120}
        ref = self.chat(body)["choices"][0]["message"]["content"]
        status, events = post(self.srv, {**body, "stream": True})
        self.assertEqual(status, 200)
        text = "".join((e["choices"][0]["delta"].get("content") or "") for e in events if e.get("choices"))
        self.assertEqual(text, ref)
        validate(schema, text)

    def test_json_object(self):
        for seed in range(6):
            data = self.chat({"response_format": {"type": "json_object"}, "temperature": 1, "seed": seed,
                              "max_tokens": 120})
            text = data["choices"][0]["message"]["content"]
            self.assertEqual(data["choices"][0]["finish_reason"], "stop", text)
            self.assertIsInstance(json.loads(text), dict, text)

    def test_max_tokens_too_small_is_length_with_partial_output(self):
        schema = {"type": "object", "properties": {"a": {"type": "string", "minLength": 40}}, "required": ["a"]}
        data = self.schema_request(schema, max_tokens=5, temperature=0)
        self.assertEqual(data["choices"][0]["finish_reason"], "length")
        with self.assertRaises(ValueError):
            json.loads(data["choices"][0]["message"]["content"])

    def test_unsupported_and_over_limit_schemas_are_400(self):
        deep = {"type": "integer"}
        for _ in range(40):
            deep = {"type": "array", "items": deep}
        cases = [
            ({"type": "string", "format": "ipv4"}, "'format' 'ipv4'"),
            ({"type": "integer", "multipleOf": 5}, "'multipleOf'"),
            ({"type": "number", "minimum": 0.25, "maximum": 0.75}, "integer-valued"),
            ({"allOf": [{"type": "string"}]}, "'allOf'"),
            ({"type": "object", "patternProperties": {"a": {}}}, "'patternProperties'"),
            ({"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]}, "oneOf"),
            ({"$ref": "https://example.com/s.json"}, "$ref"),
            ({"type": "string", "pattern": "(?=a)b"}, "pattern"),
            ({"type": "string", "pattern": "(a)\\1"}, "back-reference"),
            ({"type": "array", "minItems": 3, "maxItems": 2}, "cannot be satisfied"),
            ({"$ref": "#"}, "cannot be satisfied"),
            ({"anyOf": [{"$ref": "#"}, {"type": "null"}]}, "left recursion"),
            ({"type": "string", "minLength": 500000}, "minLength"),
            (deep, "deeper than"),
            ({"type": "object", "properties": {"p%d" % i: {"type": "string", "minLength": 200, "maxLength": 400}
                                               for i in range(200)}}, "limit"),
        ]
        for schema, needle in cases:
            with self.subTest(needle=needle):
                data = self.schema_request(schema, expect=400)
                err = data["error"]
                self.assertEqual(err["type"], "invalid_request_error")
                self.assertIn(needle, err["message"])
                self.assertEqual(err["param"], "response_format.json_schema.schema")


TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 30},
                                         "unit": {"enum": ["c", "f"]}, "days": {"type": "integer"}},
        "required": ["city"]}}},
    {"type": "function", "function": {"name": "search", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}, "opts": {
            "type": "object", "properties": {"max-n": {"type": "integer"}, "exact": {"type": "boolean"}},
            "required": ["exact"]}}, "required": ["q", "opts"]}}},
    {"type": "function", "function": {"name": "now"}},
]
PARAMS = {t["function"]["name"]: t["function"].get("parameters", {"type": "object"}) for t in TOOLS}


class ToolChoice(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = LfmdServer().start(timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def chat(self, **kw):
        body = {"messages": [{"role": "user", "content": "Use a tool."}], "tools": TOOLS, "max_tokens": 150, **kw}
        status, data = post(self.srv, body)
        self.assertEqual(status, 200, data)
        return data["choices"][0]

    def check_calls(self, choice, names=None, exactly_one=False):
        calls = choice["message"].get("tool_calls") or []
        self.assertEqual(choice["finish_reason"], "tool_calls", choice)
        self.assertGreaterEqual(len(calls), 1)
        if exactly_one:
            self.assertEqual(len(calls), 1, calls)
        for c in calls:
            name = c["function"]["name"]
            if names:
                self.assertIn(name, names)
            jsonschema.validate(json.loads(c["function"]["arguments"]), PARAMS[name])
        return calls

    def test_required_and_named(self):
        for seed in range(8):
            for parallel in (True, False):
                t = 0 if seed == 0 else 1
                ch = self.chat(tool_choice="required", parallel_tool_calls=parallel, temperature=t, seed=seed)
                self.check_calls(ch, exactly_one=not parallel)
                ch = self.chat(tool_choice={"type": "function", "function": {"name": "search"}},
                               parallel_tool_calls=parallel, temperature=t, seed=seed)
                self.check_calls(ch, names={"search"}, exactly_one=not parallel)

    def test_auto_grammar_takes_over_after_the_call_token(self):
        # logit_bias pushes the random model to <|tool_call_start|> (id 10); the lazy grammar then
        # makes the call valid; with parallel_tool_calls false the token is forbidden afterwards.
        for seed in range(6):
            ch = self.chat(tool_choice="auto", parallel_tool_calls=False, temperature=1, seed=seed,
                           logit_bias={"10": 100})
            self.check_calls(ch, exactly_one=True)
            self.assertNotIn("<|tool_call", ch["message"]["content"] or "")

    def test_none_forbids_the_call_token(self):
        for seed in range(3):
            ch = self.chat(tool_choice="none", temperature=1, seed=seed, logit_bias={"10": 100}, max_tokens=20)
            self.assertIsNone(ch["message"].get("tool_calls"))
            self.assertNotIn("<|tool_call_start|>", ch["message"]["content"])

    def test_unsupported_tool_schema_is_400(self):
        tools = [{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"n": {"type": "integer", "multipleOf": 3}}}}}]
        body = {"messages": [{"role": "user", "content": "x"}], "tools": tools, "tool_choice": "required"}
        status, data = post(self.srv, body)
        self.assertEqual(status, 400, data)
        self.assertIn("'multipleOf'", data["error"]["message"])
        self.assertIn("tool 'f'", data["error"]["message"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
