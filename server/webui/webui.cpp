#include "server/webui/webui.h"

#include <utility>

namespace lfmd::webui {

// Defined in the generated webui_files.cpp: {file name, bytes} per embedded file.
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_files();

namespace {

std::string type_of(std::string_view name) {
  auto ends = [&](std::string_view s) {
    return name.size() >= s.size() && name.substr(name.size() - s.size()) == s;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

const std::vector<Asset>& assets() {
  static const std::vector<Asset> kAssets = [] {
    std::vector<Asset> out;
    for (const auto& [name, bytes] : embedded_files()) {
      Asset a{name == "index.html" ? "/" : "/ui/" + std::string(name), type_of(name), bytes};
      if (a.path == "/")
        out.insert(out.begin(), std::move(a));
      else
        out.push_back(std::move(a));
    }
    return out;
  }();
  return kAssets;
}

bool is_asset(const std::string& method, const std::string& path) {
  if (method != "GET") return false;
  for (const Asset& a : assets()) {
    if (a.path == path) return true;
  }
  return false;
}

http::Response response(const Asset& a) {
  http::Response r;
  r.content_type = a.content_type;
  r.body = std::string(a.body);
  r.headers = {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Cache-Control", "no-cache"}};
  return r;
}

size_t total_bytes() {
  size_t n = 0;
  for (const Asset& a : assets()) n += a.body.size();
  return n;
}

}  // namespace lfmd::webui
