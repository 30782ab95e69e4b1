// Helpers shared by the jinja tests.
#pragma once

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "jinja/jinja.h"

namespace lfmd::jinja::test {

inline std::string data_dir() {
  return std::string(LFMD_SOURCE_DIR) + "/tests/data/chat_templates";
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The clock of render_oracle.py: 2025-03-14 09:26:53 (a Friday).
inline RenderOptions fixed_clock() {
  RenderOptions o;
  o.now = [] {
    std::tm tm{};
    tm.tm_year = 125;
    tm.tm_mon = 2;
    tm.tm_mday = 14;
    tm.tm_hour = 9;
    tm.tm_min = 26;
    tm.tm_sec = 53;
    tm.tm_wday = 5;
    tm.tm_yday = 72;
    return tm;
  };
  return o;
}

// Renders with the fixed clock; returns "ERROR: <message>" on jinja::Error.
inline std::string render_or_error(std::string_view src, const nlohmann::ordered_json& ctx) {
  try {
    return Template::parse(src).render(ctx, fixed_clock());
  } catch (const Error& e) {
    return std::string("ERROR: ") + e.what();
  }
}

inline std::string run_command(const std::string& cmd, int& status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    status = -1;
    return out;
  }
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  status = pclose(p);
  return out;
}

}  // namespace lfmd::jinja::test
