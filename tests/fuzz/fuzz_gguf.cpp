// libFuzzer: the GGUF reader on arbitrary bytes (through a memfd, as the reader maps a path).
// Any input must end in a parsed file or a FormatError / system_error, never a crash.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

#include "engine/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = ::memfd_create("fuzz.gguf", 0);
  if (fd < 0) return 0;
  if (size > 0 && ::write(fd, data, size) != static_cast<ssize_t>(size)) {
    ::close(fd);
    return 0;
  }
  try {
    lfmd::gguf::Reader r("/proc/self/fd/" + std::to_string(fd));
    size_t touched = 0;
    for (const std::string& k : r.keys()) {
      touched += r.get_string_opt(k).has_value() ? 1 : 0;
      try {
        touched += r.get_uint_opt(k).value_or(0) & 1;
        touched += r.get_float_opt(k).has_value() ? 1 : 0;
        touched += r.get_bool_opt(k).has_value() ? 1 : 0;
      } catch (const lfmd::gguf::FormatError&) {  // wrong type: a clear error
      }
    }
    for (const auto& t : r.tensors()) touched += t.shape_string().size();
    (void)touched;
  } catch (const lfmd::gguf::FormatError&) {
  } catch (const std::system_error&) {
  }
  ::close(fd);
  return 0;
}
