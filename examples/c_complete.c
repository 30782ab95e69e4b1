/* Completes one chat turn in-process with liblfmd, printing the answer as it streams.
 *
 *   cc c_complete.c $(pkg-config --cflags --libs lfmd) -o c_complete
 *   ./c_complete [MODEL] ["your question"]
 *
 * MODEL is a GGUF path, a Hugging Face reference "org/name[:QUANT]", or by default the built-in
 * demo model (random weights: the text is gibberish, the plumbing is real). */
#include <lfmd.h>
#include <stdio.h>
#include <string.h>

static int print_token(const char* text, size_t len, int32_t token_id, void* user_data) {
  (void)token_id, (void)user_data;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  return 0; /* non-zero would stop the generation */
}

int main(int argc, char** argv) {
  const char* model_ref = argc > 1 ? argv[1] : LFMD_DEMO_MODEL;
  const char* question = argc > 2 ? argv[2] : "Write one sentence about the sea.";
  printf("liblfmd %s\n", lfmd_version());

  lfmd_model* model = NULL;
  if (lfmd_open(model_ref, "{\"ctx\": 2048, \"parallel\": 2}", &model) != LFMD_OK) {
    fprintf(stderr, "cannot open %s: %s\n", model_ref, lfmd_last_error());
    return 1;
  }
  /* The request is a Chat Completions body; the question must be JSON-escaped in real code. */
  char request[1024];
  snprintf(request, sizeof request,
           "{\"messages\": [{\"role\": \"system\", \"content\": \"You are concise.\"},"
           " {\"role\": \"user\", \"content\": \"%s\"}],"
           " \"max_tokens\": 48, \"temperature\": 0.7, \"seed\": 1, \"confidence_threshold\": 0.5}",
           question);
  char* result = NULL;
  const int status = lfmd_complete(model, request, print_token, NULL, &result);
  if (status != LFMD_OK) {
    fprintf(stderr, "\ncompletion failed (%d): %s\n", status, lfmd_last_error());
    lfmd_close(model);
    return 1;
  }
  printf("\n\nresult: %s\n", result);
  lfmd_free_string(result);
  lfmd_close(model);
  return 0;
}
