// The handoff decision and the SSE reader of the upstream's stream (server/pipeline/handoff.h).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "server/pipeline/handoff.h"

namespace lfmd {
namespace {

ConfidenceSummary summary(int64_t n, double mean) {
  ConfidenceSummary s;
  s.n = n;
  s.entropy_confidence = {mean, mean, mean};
  return s;
}

TEST_CASE("below_threshold: off never decides, an empty answer never decides") {
  CHECK_FALSE(below_threshold({HandoffMode::Off, 0.7}, summary(5, 0.1)));
  CHECK_FALSE(below_threshold({HandoffMode::Flag, 0.7}, summary(0, 0.1)));
  CHECK(below_threshold({HandoffMode::Flag, 0.7}, summary(5, 0.69)));
  CHECK_FALSE(below_threshold({HandoffMode::Flag, 0.7}, summary(5, 0.7)));  // strictly below
  CHECK(below_threshold({HandoffMode::Proxy, 1.0}, summary(1, 0.99)));
  CHECK_FALSE(below_threshold({HandoffMode::Proxy, 0.0}, summary(1, 0.0)));
}

TEST_CASE("resolve_policy: request fields override the server's config") {
  HandoffConfig cfg;
  cfg.mode = HandoffMode::Flag;
  Conversation c;
  c.extra = {{"confidence_threshold", 0.25}, {"handoff", "off"}};
  auto p = resolve_policy(cfg, c);
  REQUIRE(std::holds_alternative<HandoffPolicy>(p));
  CHECK(std::get<HandoffPolicy>(p).mode == HandoffMode::Off);
  CHECK(std::get<HandoffPolicy>(p).threshold == 0.25);
  c.extra = {{"handoff", "proxy"}};  // no upstream configured
  auto e = resolve_policy(cfg, c);
  REQUIRE(std::holds_alternative<api::ApiError>(e));
  CHECK(std::get<api::ApiError>(e).param == "handoff");
}

std::vector<std::string> read_all(const std::vector<std::string>& pieces) {
  SseReader r;
  std::vector<std::string> out;
  for (const auto& p : pieces) {
    r.feed(p);
    while (auto d = r.next()) out.push_back(*d);
  }
  return out;
}

TEST_CASE("SseReader: the same events whatever the byte boundaries") {
  const std::string stream =
      ": comment\n\ndata: {\"a\":1}\n\nevent: x\r\ndata: {\"b\":\r\ndata: 2}\r\n\r\ndata: "
      "[DONE]\n\n";
  const std::vector<std::string> want = {"{\"a\":1}", "{\"b\":\n2}", "[DONE]"};
  CHECK(read_all({stream}) == want);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    CHECK(read_all({stream.substr(0, cut), stream.substr(cut)}) == want);
  }
  std::vector<std::string> bytes;
  for (char c : stream) bytes.emplace_back(1, c);
  CHECK(read_all(bytes) == want);
}

TEST_CASE("SseReader: an unfinished event waits for its blank line") {
  SseReader r;
  r.feed("data: {\"a\":1}\n");
  CHECK_FALSE(r.next().has_value());
  r.feed("\n");
  CHECK(r.next() == std::optional<std::string>("{\"a\":1}"));
}

}  // namespace
}  // namespace lfmd
