/* Built against an installed liblfmd (find_package, pkg-config, or the static archive): one
 * short completion on the demo model. Prints "consumer ok <version>" on success. */
#include <lfmd.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  lfmd_model* m = NULL;
  if (lfmd_open(LFMD_DEMO_MODEL, "{\"threads\": 1, \"parallel\": 1}", &m) != LFMD_OK) {
    fprintf(stderr, "open: %s\n", lfmd_last_error());
    return 1;
  }
  char* r = NULL;
  const int st =
      lfmd_complete(m, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":4}",
                    NULL, NULL, &r);
  const int ok = st == LFMD_OK && r && strstr(r, "\"finish_reason\"");
  if (!ok) fprintf(stderr, "complete (%d): %s\n", st, lfmd_last_error());
  lfmd_free_string(r);
  lfmd_close(m);
  if (ok) printf("consumer ok %s\n", lfmd_version());
  return ok ? 0 : 1;
}
