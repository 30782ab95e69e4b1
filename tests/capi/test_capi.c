/* The C interface (include/lfmd.h) from plain C, linked only against liblfmd: completion,
 * streaming callback, cancellation from another thread and from the callback, four threads at
 * once equal to each run alone, reset, and the error paths (bad model path, bad options, bad
 * request JSON, NULL and closed handles). Runs on the demo model (LFMD_CACHE_DIR set by ctest).
 * Exit status 0 = all checks passed; every failed check prints one line. */
#include <lfmd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* The JSON-escaped value of "text" (the result's first key), as a new string. */
static char* result_text(const char* result) {
  const char* start = strstr(result, "{\"text\":\"");
  const char* end = strstr(result, "\",\"reasoning\":");
  if (!start || !end || end < start) return strdup("<no text>");
  start += strlen("{\"text\":\"");
  char* out = malloc((size_t)(end - start) + 1);
  memcpy(out, start, (size_t)(end - start));
  out[end - start] = '\0';
  return out;
}

/* An integer field of the result ("completion_tokens"), or -1. */
static long result_int(const char* result, const char* key) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  const char* p = strstr(result, pattern);
  return p ? strtol(p + strlen(pattern), NULL, 10) : -1;
}

static const char* kHello =
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story.\"}],"
    "\"max_tokens\":24,\"seed\":7,\"temperature\":0.8}";

/* ---- streaming ---- */
struct Stream {
  char text[4096];
  size_t len;
  int calls;
  int stop_after; /* > 0: return non-zero at this call */
};

static int on_token(const char* text, size_t len, int32_t token_id, void* user) {
  struct Stream* s = user;
  if (s->len + len < sizeof s->text) memcpy(s->text + s->len, text, len), s->len += len;
  s->text[s->len] = '\0';
  s->calls++;
  (void)token_id;
  return s->stop_after > 0 && s->calls >= s->stop_after;
}

static void test_complete_and_stream(lfmd_model* m) {
  char* r = NULL;
  CHECK(lfmd_complete(m, kHello, NULL, NULL, &r) == LFMD_OK);
  CHECK(r && strstr(r, "\"finish_reason\":"));
  CHECK(r && result_int(r, "completion_tokens") > 0);
  CHECK(r && strstr(r, "\"cloud_handoff\":"));
  CHECK(r && strstr(r, "\"decode_tps\":"));
  CHECK(r && result_int(r, "ram_usage_mb") > 0);
  char* plain = r ? result_text(r) : strdup("");
  lfmd_free_string(r);

  /* A forced output: the callback's bytes are exactly the answer. */
  const char* forced =
      "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
      "\"lfmd_forced_output\":\"Hello from the stream callback.\"}";
  struct Stream s = {{0}, 0, 0, 0};
  CHECK(lfmd_complete(m, forced, on_token, &s, &r) == LFMD_OK);
  CHECK(strcmp(s.text, "Hello from the stream callback.") == 0);
  /* One call per token; the end-of-turn token is counted in usage but has no text. */
  CHECK(r && s.calls + 1 >= result_int(r, "completion_tokens") &&
        s.calls <= result_int(r, "completion_tokens"));
  char* t = r ? result_text(r) : strdup("");
  CHECK(strcmp(t, "Hello from the stream callback.") == 0);
  free(t);
  lfmd_free_string(r);

  /* The same request as the first, streamed: same answer. */
  struct Stream s2 = {{0}, 0, 0, 0};
  CHECK(lfmd_complete(m, kHello, on_token, &s2, &r) == LFMD_OK);
  t = r ? result_text(r) : strdup("");
  CHECK(strcmp(t, plain) == 0);
  free(t);
  free(plain);
  lfmd_free_string(r);
}

/* ---- cancellation ---- */
static const char* kLong =
    "{\"messages\":[{\"role\":\"user\",\"content\":\"count\"}],\"lfmd_step_delay_ms\":5,"
    "\"lfmd_forced_output\":\"one two three four five six seven eight nine ten eleven twelve "
    "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one twenty-two "
    "twenty-three twenty-four twenty-five twenty-six twenty-seven twenty-eight twenty-nine\"}";

struct CancelState {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int tokens;         /* callbacks so far */
  int seen_at_cancel; /* tokens when lfmd_cancel was called */
  lfmd_model* m;
  int cancel_status;
};

static int count_token(const char* text, size_t len, int32_t id, void* user) {
  struct CancelState* c = user;
  pthread_mutex_lock(&c->mu);
  c->tokens++;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  (void)text, (void)len, (void)id;
  return 0;
}

static void* canceller(void* arg) {
  struct CancelState* c = arg;
  pthread_mutex_lock(&c->mu);
  while (c->tokens < 3) pthread_cond_wait(&c->cv, &c->mu);
  c->seen_at_cancel = c->tokens;
  c->cancel_status = lfmd_cancel(c->m); /* under the lock: no callback counts meanwhile */
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

static void test_cancel(lfmd_model* m) {
  struct CancelState c;
  memset(&c, 0, sizeof c);
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  c.m = m;
  pthread_t th;
  pthread_create(&th, NULL, canceller, &c);
  char* r = NULL;
  CHECK(lfmd_complete(m, kLong, count_token, &c, &r) == LFMD_CANCELLED);
  pthread_join(th, NULL);
  CHECK(c.cancel_status == LFMD_OK);
  CHECK(r && strstr(r, "\"finish_reason\":\"cancelled\""));
  /* Stops within one step: at most the step in flight and one already queued after cancel. */
  const long generated = r ? result_int(r, "completion_tokens") : -1;
  fprintf(stderr,
          "cancel from another thread: %d tokens seen at cancel, %ld generated, %d callbacks\n",
          c.seen_at_cancel, generated, c.tokens);
  CHECK(generated >= c.seen_at_cancel && generated <= c.seen_at_cancel + 2);
  /* No callback after the cancel (one may have been waiting for the lock while it ran). */
  CHECK(c.tokens <= c.seen_at_cancel + 1);
  CHECK(strcmp(lfmd_last_error(), "cancelled") == 0);
  lfmd_free_string(r);
  pthread_mutex_destroy(&c.mu);
  pthread_cond_destroy(&c.cv);

  /* The callback's non-zero return cancels too. */
  struct Stream s = {{0}, 0, 0, 3};
  CHECK(lfmd_complete(m, kLong, on_token, &s, &r) == LFMD_CANCELLED);
  CHECK(s.calls == 3);
  CHECK(r && result_int(r, "completion_tokens") <= 5);
  lfmd_free_string(r);
  /* A later completion is not affected. */
  CHECK(lfmd_complete(m, kHello, NULL, NULL, &r) == LFMD_OK);
  lfmd_free_string(r);
}

/* ---- four threads at once ---- */
struct Job {
  lfmd_model* m;
  char request[256];
  char* text;
  int status;
  pthread_barrier_t* start;
};

static void* run_job(void* arg) {
  struct Job* j = arg;
  if (j->start) pthread_barrier_wait(j->start);
  char* r = NULL;
  j->status = lfmd_complete(j->m, j->request, NULL, NULL, &r);
  j->text = r ? result_text(r) : strdup("");
  lfmd_free_string(r);
  return NULL;
}

static void test_four_threads(lfmd_model* m) {
  struct Job alone[4], together[4];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, 4);
  for (int i = 0; i < 4; ++i) {
    memset(&alone[i], 0, sizeof alone[i]);
    alone[i].m = m;
    snprintf(alone[i].request, sizeof alone[i].request,
             "{\"messages\":[{\"role\":\"user\",\"content\":\"Question number %d?\"}],"
             "\"max_tokens\":%d,\"seed\":%d,\"temperature\":0.9}",
             i, 12 + 4 * i, 100 + i);
    together[i] = alone[i];
    together[i].start = &start;
    run_job(&alone[i]);
  }
  pthread_t th[4];
  for (int i = 0; i < 4; ++i) pthread_create(&th[i], NULL, run_job, &together[i]);
  for (int i = 0; i < 4; ++i) pthread_join(th[i], NULL);
  for (int i = 0; i < 4; ++i) {
    CHECK(alone[i].status == LFMD_OK && together[i].status == LFMD_OK);
    CHECK(strlen(alone[i].text) > 0);
    if (strcmp(alone[i].text, together[i].text) != 0) {
      fprintf(stderr, "thread %d: alone \"%s\" vs together \"%s\"\n", i, alone[i].text,
              together[i].text);
      ++failures;
    }
    free(alone[i].text);
    free(together[i].text);
  }
  pthread_barrier_destroy(&start);
}

/* ---- errors ---- */
static void test_errors(void) {
  lfmd_model* m = (lfmd_model*)0x1;
  CHECK(lfmd_open("/nonexistent/dir/model.gguf", NULL, &m) == LFMD_ERR_MODEL);
  CHECK(m == NULL);
  CHECK(strstr(lfmd_last_error(), "/nonexistent/dir/model.gguf") != NULL);
  fprintf(stderr, "bad path: %s\n", lfmd_last_error());
  CHECK(lfmd_open(LFMD_DEMO_MODEL, "{\"ctx\": ", &m) == LFMD_ERR_REQUEST);
  CHECK(strstr(lfmd_last_error(), "JSON") != NULL);
  CHECK(lfmd_open(LFMD_DEMO_MODEL, "{\"thraeds\": 2}", &m) == LFMD_ERR_REQUEST);
  CHECK(strstr(lfmd_last_error(), "thraeds") != NULL);
  CHECK(lfmd_open(LFMD_DEMO_MODEL, "{\"kv_type\": \"q4\"}", &m) == LFMD_ERR_REQUEST);
  CHECK(strstr(lfmd_last_error(), "kv_type") != NULL);
  CHECK(lfmd_open(NULL, NULL, &m) == LFMD_ERR_ARGUMENT);
  CHECK(lfmd_open(LFMD_DEMO_MODEL, NULL, NULL) == LFMD_ERR_ARGUMENT);
  char* r = (char*)0x1;
  CHECK(lfmd_complete(NULL, kHello, NULL, NULL, &r) == LFMD_ERR_CLOSED);
  CHECK(r == NULL);
  CHECK(strstr(lfmd_last_error(), "NULL") != NULL);
  CHECK(lfmd_cancel(NULL) == LFMD_ERR_CLOSED);
  CHECK(lfmd_reset(NULL) == LFMD_ERR_CLOSED);
  CHECK(lfmd_close(NULL) == LFMD_ERR_CLOSED);
  lfmd_free_string(NULL);
}

static void test_request_errors(lfmd_model* m) {
  char* r = NULL;
  CHECK(lfmd_complete(m, "{\"messages\": [", NULL, NULL, &r) == LFMD_ERR_REQUEST);
  CHECK(r == NULL);
  fprintf(stderr, "bad JSON: %s\n", lfmd_last_error());
  CHECK(strlen(lfmd_last_error()) > 0);
  CHECK(lfmd_complete(m, "{\"messages\": 3}", NULL, NULL, &r) == LFMD_ERR_REQUEST);
  CHECK(strstr(lfmd_last_error(), "messages") != NULL);
  CHECK(lfmd_complete(m, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", NULL,
                      NULL, &r) == LFMD_ERR_REQUEST);
  CHECK(lfmd_complete(m, NULL, NULL, NULL, &r) == LFMD_ERR_ARGUMENT);
  CHECK(lfmd_complete(m, kHello, NULL, NULL, NULL) == LFMD_ERR_ARGUMENT);
}

int main(void) {
  CHECK(strcmp(lfmd_version(), "0.1.0") == 0);
  test_errors();
  lfmd_model* m = NULL;
  if (lfmd_open(LFMD_DEMO_MODEL, "{\"test_hooks\": true, \"parallel\": 4, \"threads\": 2}", &m) !=
      LFMD_OK) {
    fprintf(stderr, "open failed: %s\n", lfmd_last_error());
    return 1;
  }
  test_request_errors(m);
  test_complete_and_stream(m);
  test_cancel(m);
  test_four_threads(m);

  char* before = NULL;
  char* after = NULL;
  CHECK(lfmd_complete(m, kHello, NULL, NULL, &before) == LFMD_OK);
  CHECK(lfmd_reset(m) == LFMD_OK);
  CHECK(lfmd_complete(m, kHello, NULL, NULL, &after) == LFMD_OK);
  CHECK(after && result_int(after, "cached_tokens") == 0); /* the prefix cache was dropped */
  char* a = before ? result_text(before) : strdup("");
  char* b = after ? result_text(after) : strdup("x");
  CHECK(strcmp(a, b) == 0);
  free(a), free(b);
  lfmd_free_string(before), lfmd_free_string(after);

  CHECK(lfmd_close(m) == LFMD_OK);
  char* r = NULL;
  CHECK(lfmd_complete(m, kHello, NULL, NULL, &r) ==
        LFMD_ERR_CLOSED); /* closed: a key, never dereferenced */
  CHECK(strstr(lfmd_last_error(), "closed") != NULL);
  CHECK(lfmd_close(m) == LFMD_ERR_CLOSED);
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    fprintf(stderr, "all lfmd C interface checks passed\n");
  return failures ? 1 : 0;
}
