/* lfmd.h: the C interface of liblfmd, LFM2 inference in-process (no server).
 *
 * One model handle serves any number of threads: their completions are batched by the same
 * scheduler as `lfmd serve` (continuous batching, prefix cache, grammar, tool calls, confidence
 * and cloud handoff). Requests and results are JSON text; no C++ type crosses this header.
 *
 *   lfmd_model* m = NULL;
 *   if (lfmd_open("model.gguf", "{\"ctx\": 4096}", &m) != LFMD_OK) puts(lfmd_last_error());
 *   char* result = NULL;
 *   const char* req = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
 *   if (lfmd_complete(m, req, NULL, NULL, &result) == LFMD_OK) puts(result);
 *   lfmd_free_string(result);
 *   lfmd_close(m);
 *
 * Every function returns an lfmd_status (or a string); on failure lfmd_last_error() says why.
 * Nothing aborts on bad input and nothing throws. */
#ifndef LFMD_H
#define LFMD_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define LFMD_API __declspec(dllexport)
#elif defined(__GNUC__)
#define LFMD_API __attribute__((visibility("default")))
#else
#define LFMD_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define LFMD_VERSION_MAJOR 0
#define LFMD_VERSION_MINOR 1
#define LFMD_VERSION_PATCH 0

/* The built-in demo model (random weights, generated once into the lfmd cache directory, as
 * `lfmd serve` without --model uses): pass it as lfmd_open's `model`. */
#define LFMD_DEMO_MODEL "lfmd:demo"

typedef enum lfmd_status {
  LFMD_OK = 0,
  LFMD_CANCELLED = 1,       /* lfmd_complete: stopped by lfmd_cancel or the callback; the result
                               holds the partial answer with finish_reason "cancelled" */
  LFMD_ERR_ARGUMENT = -1,   /* a required pointer argument is NULL */
  LFMD_ERR_REQUEST = -2,    /* options or request JSON malformed or invalid (a field, a value,
                               a prompt longer than the context, a template error) */
  LFMD_ERR_MODEL = -3,      /* the model cannot be found, fetched or loaded */
  LFMD_ERR_CLOSED = -4,     /* the handle is NULL or was closed */
  LFMD_ERR_BUSY = -5,       /* the scheduler's queue is full (max_queue); try again */
  LFMD_ERR_GENERATION = -6, /* the engine failed while generating */
  LFMD_ERR_INTERNAL = -7    /* anything else (e.g. out of memory) */
} lfmd_status;

typedef struct lfmd_model lfmd_model;

/* Called once per generated token, on the thread that called lfmd_complete: `text` holds the
 * `len` bytes of answer content this token released (may be 0: tool-call markup, reasoning, or
 * text held back while it could still be a stop string; not NUL-terminated). token_id is the
 * token's id, or -1 for text released only when the answer ended. Return 0 to go on, non-zero
 * to cancel (lfmd_complete then returns LFMD_CANCELLED; no further calls). */
typedef int (*lfmd_token_callback)(const char* text, size_t len, int32_t token_id, void* user_data);

/* "0.1.0": the library's version (static storage). */
LFMD_API const char* lfmd_version(void);

/* Why the last failing call on this thread failed, as one line of UTF-8 ("" when none). Valid
 * until the next lfmd_* call on this thread. */
LFMD_API const char* lfmd_last_error(void);

/* Opens a model: a GGUF file path, a Hugging Face reference "org/name[:QUANT]" (pulled into the
 * Hub cache, as `lfmd pull`), or LFMD_DEMO_MODEL. options_json may be NULL or a JSON object:
 *   threads (0 = all cores), ctx (tokens, 0 = the model's), batch, parallel (sequences at once,
 *   default 4), max_queue (default 16), prefill_chunk, cache_mb (prefix-cache budget in MiB,
 *   default 256, within the KV budget), kv_budget_mb (running sequences plus the prefix cache,
 *   MiB; 0 = default: half of the memory available after the weights), isa, kv_type ("f32" |
 *   "f16" | "q8_0": KV cache element type, default "f16"), handoff {mode: "off"|"flag"|"proxy"
 *   (default "flag"), threshold (0.7),
 *   window, probe_tokens, upstream_url, upstream_model, upstream_api_key_env,
 *   upstream_timeout_ms}, test_hooks (accept the request's lfmd_* test fields; tests only).
 * Unknown keys are an error. On success *out is the handle, else NULL. */
LFMD_API int lfmd_open(const char* model, const char* options_json, lfmd_model** out);

/* Completes a conversation. request_json is a Chat Completions request body (messages, tools,
 * tool_choice, response_format, max_tokens, temperature, top_p, seed, stop, ... plus lfmd's
 * confidence_threshold and handoff), validated by the same code as the server's
 * /v1/chat/completions; "model" and "stream" are ignored, "n" must be 1. callback may be NULL.
 * On LFMD_OK and LFMD_CANCELLED *result_json (free with lfmd_free_string) is an object:
 *   {"text", "reasoning", "tool_calls": [{"id", "name", "arguments": {...}}],
 *    "finish_reason": "stop"|"length"|"tool_calls"|"cancelled",
 *    "usage": {"prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
 *              "reasoning_tokens"},
 *    "confidence": {"score", ...}, "cloud_handoff": bool, "served_by": "local"|"cloud",
 *    "time_to_first_token_ms", "total_time_ms", "prefill_tps", "decode_tps", "ram_usage_mb"}
 * Safe to call from several threads at once on one handle. */
LFMD_API int lfmd_complete(lfmd_model* model, const char* request_json,
                           lfmd_token_callback callback, void* user_data, char** result_json);

/* Stops every completion running on this handle within one scheduler step; each returns
 * LFMD_CANCELLED. Safe from any thread. Completions started afterwards are not affected. */
LFMD_API int lfmd_cancel(lfmd_model* model);

/* Cancels running completions and drops the cached prompt prefixes (a fresh scheduler). */
LFMD_API int lfmd_reset(lfmd_model* model);

/* Cancels running completions and frees the model; the handle is invalid afterwards (later calls
 * with it return LFMD_ERR_CLOSED). NULL is LFMD_ERR_CLOSED. */
LFMD_API int lfmd_close(lfmd_model* model);

/* Frees a string returned by lfmd_complete. NULL is a no-op. */
LFMD_API void lfmd_free_string(char* s);

#ifdef __cplusplus
}
#endif

#endif /* LFMD_H */
