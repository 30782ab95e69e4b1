// No-crash pass: mutated templates must either render or throw jinja::Error.
// Deterministic (fixed seed); run it under ASan/UBSan to catch memory errors.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "tests/jinja/test_util.h"

namespace lfmd::jinja::test {
namespace {

using json = nlohmann::ordered_json;

const char* const kPieces[] = {
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{%-",
    "-%}",
    "{{-",
    "-}}",
    "+%}",
    "{%+",
    "|",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "\\",
    ",",
    ".",
    ":",
    "~",
    "*",
    "**",
    "/",
    "//",
    "%",
    "-",
    "+",
    "=",
    "==",
    "!=",
    "<",
    ">",
    " is ",
    " in ",
    " not ",
    " and ",
    " or ",
    " if ",
    " else ",
    "endfor",
    "endif",
    "endmacro",
    "endset",
    " for x in ",
    "loop.index",
    "loop",
    "messages",
    "ns.",
    "namespace(",
    "range(",
    "tojson",
    "|tojson(indent=2)",
    "|join(', ')",
    "|list",
    "|length",
    "|safe",
    "|items",
    "|map(attribute='role')",
    "caller()",
    "{% break %}",
    "{% continue %}",
    "[::-1]",
    "[1:]",
    "0",
    "1",
    "-1",
    "1e308",
    "9223372036854775807",
    "none",
    "true",
    "'\\u00e9'",
    "\xff",
    "\xc3",
    "\n",
    " ",
    "\t",
    "{% raw %}",
    "{% endraw %}",
    "recursive",
    "loop(",
    "{% generation %}",
    "{% endgeneration %}",
    "'{:",
    "}'.format(1.5, 'x')",
    "'{0:>{1}}'.format('a', 5)",
    "'%5.2f %s %d %x' % (1.5, 'a', 2, 255)",
    "|format(1, 'b')",
    "strftime_now('%Y %",
    "|round(2)",
    "|int",
    "|float",
    "|indent(2)",
    "|pprint",
    "|truncate(3)",
    ".split()",
    ".strip('x')",
    ".replace('a', '')",
    "|dictsort",
    "|unique",
    "|batch(2)",
};

std::string mutate(std::string s, std::mt19937& rng) {
  auto pick = [&](std::size_t n) {
    return n ? std::uniform_int_distribution<std::size_t>(0, n - 1)(rng) : 0;
  };
  int edits = 1 + static_cast<int>(pick(4));
  for (int e = 0; e < edits; ++e) {
    std::size_t pos = pick(s.size() + 1);
    switch (pick(5)) {
      case 0:  // delete a range
        s.erase(pos, pick(12) + 1);
        break;
      case 1:  // insert a piece
        s.insert(pos, kPieces[pick(std::size(kPieces))]);
        break;
      case 2:  // duplicate a chunk
        if (!s.empty()) {
          std::size_t from = pick(s.size()), len = pick(40) + 1;
          s.insert(pos, s.substr(from, len));
        }
        break;
      case 3:  // flip a byte
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(pick(256));
        break;
      default:  // swap two chunks of text
        if (s.size() > 4) {
          std::size_t a = pick(s.size()), b = pick(s.size());
          std::swap(s[a], s[b]);
        }
    }
  }
  return s;
}

}  // namespace

TEST_CASE("fuzz: mutated templates render or throw jinja::Error") {
  std::vector<std::string> seeds;
  const std::string dir = data_dir();
  for (const char* sub : {"", "/extra"})
    for (const auto& e : std::filesystem::directory_iterator(dir + sub))
      if (e.path().extension() == ".jinja") seeds.push_back(read_file(e.path().string()));
  json snippets = json::parse(read_file(dir + "/snippets.json"));
  for (const auto& sn : snippets) seeds.push_back(sn["t"].get<std::string>());
  json cases = json::parse(read_file(dir + "/cases.json"));
  std::vector<json> contexts;
  for (const auto& c : cases["cases"]) {
    json ctx = cases["defaults"];
    for (auto it = c["vars"].begin(); it != c["vars"].end(); ++it) ctx[it.key()] = *it;
    contexts.push_back(ctx);
  }

  RenderOptions opts = fixed_clock();
  opts.limits.max_iterations = 20'000;
  opts.limits.max_output_bytes = 1 << 20;
  opts.limits.max_memory_bytes = 64 << 20;
  opts.limits.max_work_bytes = 256 << 20;
  opts.limits.max_recursion = 40;

  const char* seed_env = std::getenv("LFMD_JINJA_FUZZ_SEED");
  std::mt19937 rng(seed_env ? static_cast<unsigned>(std::atoi(seed_env)) : 20250314u);
  int parsed = 0, rendered = 0, total = 0;
  const char* env = std::getenv("LFMD_JINJA_FUZZ_ROUNDS");  // longer runs on demand
  const int rounds = env ? std::atoi(env) : 6000;
  for (int i = 0; i < rounds; ++i) {
    const std::string& seed = seeds[i % seeds.size()];
    std::string src = mutate(seed, rng);
    const json& ctx = contexts[static_cast<std::size_t>(i) % contexts.size()];
    ++total;
    try {
      Template t = Template::parse(src);
      ++parsed;
      t.render(ctx, opts);
      ++rendered;
    } catch (const Error&) {
      // expected for most mutations
    } catch (const std::exception& e) {
      FAIL_CHECK("non-jinja exception " << e.what() << " for template " << json(src).dump());
    }
  }
  MESSAGE(total << " mutated templates: " << parsed << " parsed, " << rendered << " rendered");
  CHECK(parsed > total / 10);
}

}  // namespace lfmd::jinja::test
