#!/usr/bin/env python3
"""A streaming chat with a tool and the confidence handoff flag, in-process over liblfmd.

    PYTHONPATH=python python3 examples/python_chat.py [MODEL]

MODEL is a GGUF path or "org/name[:QUANT]"; by default the built-in demo model. Its weights are
random, so for the demo the first turn is scripted (a test hook) to call the tool: the loop
below is then exercised exactly as with a real model.
"""
import json
import sys

import lfmd

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def get_weather(city: str) -> dict:
    return {"city": city, "temperature_c": 18, "sky": "clear"}


def main() -> int:
    model_ref = sys.argv[1] if len(sys.argv) > 1 else lfmd.DEMO_MODEL
    demo = model_ref == lfmd.DEMO_MODEL
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    with lfmd.Model(model_ref, ctx=2048, test_hooks=demo) as model:
        for turn in range(3):
            extra = {}
            if demo and turn == 0:  # random weights: script the tool call
                extra["lfmd_forced_output"] = (
                    '<|tool_call_start|>[get_weather(city="Paris")]<|tool_call_end|>'
                )
            stream = model.complete(
                messages, tools=TOOLS, stream=True, confidence_threshold=0.5,
                max_tokens=48, seed=turn, **extra,
            )
            print(f"assistant (turn {turn + 1}): ", end="", flush=True)
            for piece in stream:
                print(piece, end="", flush=True)
            r = stream.result
            print(f"\n  finish={r['finish_reason']} cloud_handoff={r['cloud_handoff']} "
                  f"confidence={r['confidence'].get('score')} decode={r['decode_tps']:.0f} tok/s")
            if not r["tool_calls"]:
                return 0
            messages.append({"role": "assistant", "content": r["text"], "tool_calls": [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                for c in r["tool_calls"]]})
            for c in r["tool_calls"]:
                result = get_weather(**c["arguments"])
                print(f"  tool {c['name']}({c['arguments']}) -> {result}")
                messages.append({"role": "tool", "tool_call_id": c["id"], "content": json.dumps(result)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
