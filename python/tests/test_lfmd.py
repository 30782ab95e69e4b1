"""The Python package over liblfmd on the demo model (random weights, so the tests compare
answers with each other or with forced outputs, never with expected prose)."""
import json
import threading

import pytest

import lfmd

HELLO = [{"role": "user", "content": "Tell me a story."}]
SAMPLING = {"max_tokens": 24, "seed": 7, "temperature": 0.8}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather forecast",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
FORCED_CALL = '<|tool_call_start|>[get_weather(city="Paris", days=3)]<|tool_call_end|>'
LONG = " ".join(f"word{i}" for i in range(200))


@pytest.fixture(scope="module")
def model():
    with lfmd.Model(lfmd.DEMO_MODEL, test_hooks=True, threads=2, parallel=4) as m:
        yield m


def test_version():
    assert lfmd.version() == "0.1.0"


def test_complete_returns_the_result_object(model):
    r = model.complete(HELLO, **SAMPLING)
    assert isinstance(r["text"], str) and r["text"]
    assert r["finish_reason"] in ("stop", "length")
    assert r["usage"]["completion_tokens"] > 0
    assert r["usage"]["total_tokens"] == r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"]
    for key in ("cached_tokens", "reasoning_tokens"):
        assert key in r["usage"]
    assert r["cloud_handoff"] in (True, False)
    assert r["time_to_first_token_ms"] > 0 and r["decode_tps"] > 0 and r["prefill_tps"] >= 0
    assert r["ram_usage_mb"] > 0
    assert "score" in r["confidence"]


def test_callback_sees_every_token_and_the_text(model):
    seen = []
    r = model.complete(HELLO, callback=lambda text, tid: seen.append((text, tid)), **SAMPLING)
    assert b"".join(t for t, _ in seen).decode() == r["text"]
    # One call per sampled token; an end-of-turn token is counted in usage but never shown.
    n = len([t for t in seen if t[1] >= 0])
    assert n <= r["usage"]["completion_tokens"] <= n + 1


def test_iterator_stream_equals_the_plain_text(model):
    plain = model.complete(HELLO, **SAMPLING)["text"]
    stream = model.complete(HELLO, stream=True, **SAMPLING)
    pieces = list(stream)
    assert len(pieces) > 1
    assert "".join(pieces) == plain == stream.text


def test_forced_tool_call_comes_back_typed(model):
    r = model.complete(
        [{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        lfmd_forced_output=FORCED_CALL,
    )
    assert r["finish_reason"] == "tool_calls"
    assert r["tool_calls"][0]["name"] == "get_weather"
    assert r["tool_calls"][0]["arguments"] == {"city": "Paris", "days": 3}
    out = json.loads(
        lfmd.complete(model, [{"role": "user", "content": "Weather?"}], tools=json.dumps([WEATHER_TOOL]),
                      lfmd_forced_output=FORCED_CALL)
    )
    assert out["function_calls"] == [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]


def test_confidence_threshold_sets_cloud_handoff(model):
    # Scores lie in [0, 1]: below 1.0 always hands off on random weights, below 0.0 never.
    high = model.complete(HELLO, confidence_threshold=1.0, **SAMPLING)
    low = model.complete(HELLO, confidence_threshold=0.0, **SAMPLING)
    assert high["cloud_handoff"] is True and low["cloud_handoff"] is False
    assert high["confidence"]["score"] == low["confidence"]["score"] < 1.0
    seed_out = json.loads(lfmd.complete(model, HELLO, confidence_threshold=1.0, **SAMPLING))
    assert seed_out["cloud_handoff"] is True
    for key in ("response", "function_calls", "confidence", "prefill_tps", "decode_tps",
                "time_to_first_token_ms", "ram_usage_mb"):
        assert key in seed_out
    assert seed_out["response"] == high["text"]


def test_seed_style_callback_gets_user_data(model):
    got = []
    lfmd.complete(model, json.dumps(HELLO), callback=lambda tok, tid, ud: got.append((tok, tid, ud)),
                  user_data="ctx", **SAMPLING)
    assert got and all(ud == "ctx" and isinstance(tok, bytes) for tok, _, ud in got)


def test_cancel_from_another_thread_stops_within_a_step(model):
    seen = []
    cancelled_at = []
    ready = threading.Event()

    def on_token(text, tid):
        seen.append(tid)
        if len(seen) == 3:
            ready.set()

    def canceller():
        ready.wait()
        cancelled_at.append(len(seen))
        model.cancel()

    t = threading.Thread(target=canceller)
    t.start()
    r = model.complete(HELLO, callback=on_token, lfmd_forced_output=LONG, lfmd_step_delay_ms=5)
    t.join()
    assert r["finish_reason"] == "cancelled"
    assert cancelled_at[0] <= r["usage"]["completion_tokens"] <= cancelled_at[0] + 2
    assert len(seen) <= cancelled_at[0] + 1


def test_callback_return_and_exception_cancel(model):
    n = []
    r = model.complete(HELLO, callback=lambda t, i: n.append(i) or len(n) >= 2,
                       lfmd_forced_output=LONG, lfmd_step_delay_ms=2)
    assert r["finish_reason"] == "cancelled" and len(n) == 2

    def boom(text, tid):
        raise KeyError("from the callback")

    with pytest.raises(KeyError):
        model.complete(HELLO, callback=boom, lfmd_forced_output=LONG, lfmd_step_delay_ms=2)
    assert model.complete(HELLO, **SAMPLING)["finish_reason"] in ("stop", "length")  # still usable


def test_leaving_a_stream_early_cancels_it(model):
    with model.complete(HELLO, stream=True, lfmd_forced_output=LONG, lfmd_step_delay_ms=2) as s:
        next(iter(s))
    assert s.result["finish_reason"] == "cancelled"


def test_four_threads_match_each_run_alone(model):
    requests = [
        ([{"role": "user", "content": f"Question number {i}?"}], {"max_tokens": 12 + 4 * i, "seed": 100 + i, "temperature": 0.9})
        for i in range(4)
    ]
    alone = [model.complete(m, **kw)["text"] for m, kw in requests]
    together = [None] * 4
    barrier = threading.Barrier(4)

    def run(i):
        barrier.wait()
        together[i] = model.complete(requests[i][0], **requests[i][1])["text"]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone


def test_errors_carry_the_library_text(model):
    with pytest.raises(lfmd.ModelError, match="/nonexistent/model.gguf"):
        lfmd.Model("/nonexistent/model.gguf")
    with pytest.raises(lfmd.RequestError, match="thraeds"):
        lfmd.Model(lfmd.DEMO_MODEL, thraeds=2)
    with pytest.raises(lfmd.RequestError, match="messages"):
        model.complete("[1, 2]")
    with pytest.raises(lfmd.RequestError, match="temperature"):
        model.complete(HELLO, temperature="hot")
    with pytest.raises(json.JSONDecodeError):
        model.complete("not json")  # caught before the library: a Python-side parse


def test_closed_handle_and_context_manager_cleanup():
    with pytest.raises(RuntimeError):
        with lfmd.Model(lfmd.DEMO_MODEL, threads=1) as m:
            raise RuntimeError("inside the with block")
    assert m.closed
    with pytest.raises(lfmd.ClosedError, match="NULL"):
        m.complete(HELLO, max_tokens=2)
    h = lfmd.init(lfmd.DEMO_MODEL, threads=1)
    lfmd.reset(h)
    lfmd.destroy(h)
    with pytest.raises(lfmd.ClosedError):
        lfmd.reset(h)
    lfmd.destroy(h)  # idempotent


def test_reset_drops_the_prefix_cache(model):
    first = model.complete(HELLO, **SAMPLING)
    model.reset()
    again = model.complete(HELLO, **SAMPLING)
    assert again["usage"]["cached_tokens"] == 0
    assert again["text"] == first["text"]
