// Byte-for-byte comparison with Python Jinja2 (tests/jinja/render_oracle.py).
// Registered as the ctest `lfmd_jinja_oracle`; needs /usr/bin/python3 with python3-jinja2
// (LFMD_PYTHON overrides the interpreter).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>

#include "tests/jinja/test_util.h"

namespace lfmd::jinja::test {
namespace {

using json = nlohmann::ordered_json;

json run_oracle(const std::string& args) {
  const char* py = std::getenv("LFMD_PYTHON");
  std::string cmd = std::string(py ? py : "/usr/bin/python3") + " " + LFMD_SOURCE_DIR +
                    "/tests/jinja/render_oracle.py " + args;
  int status = 0;
  std::string out = run_command(cmd, status);
  INFO("command: " << cmd);
  REQUIRE(status == 0);
  return json::parse(out);
}

// Shows where two renderings first differ.
std::string diff(const std::string& want, const std::string& got) {
  std::size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  std::size_t from = i > 60 ? i - 60 : 0;
  return "first difference at byte " + std::to_string(i) +
         "\n  want: " + json(want.substr(from, 160)).dump() +
         "\n  got:  " + json(got.substr(from, 160)).dump();
}

struct Outcome {
  bool ok = false;
  std::string output;
  Error::Kind kind = Error::Kind::Runtime;
};

Outcome ours(const std::optional<Template>& t, const std::string& parse_error, const json& ctx) {
  Outcome o;
  if (!t) {
    o.kind = Error::Kind::Syntax;
    o.output = parse_error;
    return o;
  }
  try {
    o.output = t->render(ctx, fixed_clock());
    o.ok = true;
  } catch (const Error& e) {
    o.kind = e.kind();
    o.output = e.message();
  }
  return o;
}

// Returns true when our outcome agrees with the oracle's record `r`.
bool agree(const json& r, const Outcome& o, std::string& why) {
  if (r["ok"].get<bool>()) {
    if (!o.ok) {
      why = "oracle rendered, we threw: " + o.output;
      return false;
    }
    const std::string want = r["output"].get<std::string>();
    if (want != o.output) {
      why = diff(want, o.output);
      return false;
    }
    return true;
  }
  const std::string type = r["error_type"].get<std::string>(), err = r["error"].get<std::string>();
  if (o.ok) {
    why = "oracle failed (" + err + "), we rendered " + json(o.output.substr(0, 200)).dump();
    return false;
  }
  if (type == "raised" && (o.kind != Error::Kind::Raised || o.output != err)) {
    why = "raise_exception message: want " + json(err).dump() + ", got " + json(o.output).dump();
    return false;
  }
  return true;
}

struct Parsed {
  std::optional<Template> t;
  std::string error;
};

Parsed parse(const std::string& src) {
  Parsed p;
  try {
    p.t = Template::parse(src);
  } catch (const Error& e) {
    p.error = e.what();
  }
  return p;
}

}  // namespace

TEST_CASE("oracle: chat templates x message sets") {
  const std::string dir = data_dir();
  json oracle =
      run_oracle("--templates " + dir + " " + dir + "/extra --cases " + dir + "/cases.json");
  json spec = json::parse(read_file(dir + "/cases.json"));
  std::map<std::string, json> cases;
  for (const auto& c : spec["cases"]) cases[c["name"].get<std::string>()] = c["vars"];
  std::map<std::string, Parsed> templates;
  for (const char* sub : {"", "/extra"})
    for (const auto& e : std::filesystem::directory_iterator(dir + sub))
      if (e.path().extension() == ".jinja")
        templates[e.path().filename().string()] = parse(read_file(e.path().string()));

  const auto& renders = oracle["renders"];
  REQUIRE(renders.size() == templates.size() * cases.size());
  int failures = 0, rendered = 0;
  for (const auto& r : renders) {
    const std::string tname = r["template"].get<std::string>(),
                      cname = r["case"].get<std::string>();
    json ctx = spec["defaults"];
    for (auto it = cases[cname].begin(); it != cases[cname].end(); ++it) ctx[it.key()] = *it;
    const Parsed& p = templates.at(tname);
    std::string why;
    if (r["ok"].get<bool>()) ++rendered;
    if (!agree(r, ours(p.t, p.error, ctx), why)) {
      ++failures;
      FAIL_CHECK(tname << " x " << cname << ": " << why);
    }
  }
  MESSAGE(renders.size() << " (template, case) pairs compared, " << rendered
                         << " rendered by the oracle, " << failures << " mismatches");
  CHECK(rendered > 100);
}

TEST_CASE("oracle: feature snippets") {
  const std::string path = data_dir() + "/snippets.json";
  json oracle = run_oracle("--snippets " + path);
  json snippets = json::parse(read_file(path));
  const auto& results = oracle["snippets"];
  REQUIRE(results.size() == snippets.size());
  int failures = 0;
  for (std::size_t i = 0; i < snippets.size(); ++i) {
    const std::string src = snippets[i]["t"].get<std::string>();
    json ctx = snippets[i].contains("v") ? snippets[i]["v"] : json::object();
    Parsed p = parse(src);
    std::string why;
    if (!agree(results[i], ours(p.t, p.error, ctx), why)) {
      ++failures;
      FAIL_CHECK("snippet " << i << " " << json(src).dump() << ": " << why);
    }
  }
  MESSAGE(snippets.size() << " snippets compared, " << failures << " mismatches");
}

}  // namespace lfmd::jinja::test
