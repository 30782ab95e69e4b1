#include <doctest/doctest.h>
#include <stdlib.h>

#include "config/options.h"

using namespace lfmd::config;

namespace {
Command test_command() {
  return {"t", "test", "lfmd t", {{"threads", OptType::Int, "0", "threads", 0, 64, 't'},
                                   {"temp", OptType::Float, "0.3", "temperature", 0, 2},
                                   {"name", OptType::String, "", "a name"},
                                   {"fast", OptType::Bool, "", "a flag"}}};
}
}  // namespace

TEST_CASE("options: defaults, flags, env, precedence and errors") {
  Command c = test_command();
  Options o;
  std::string err;
  ::setenv("LFMD_THREADS", "3", 1);
  ::setenv("LFMD_NAME", "from-env", 1);
  REQUIRE(o.parse(c, {"--name=flag", "--fast", "--temp", "1.5"}, &err));
  CHECK(o.integer("threads") == 3);       // env beats default
  CHECK(o.str("name") == "flag");         // flag beats env
  CHECK(o.number("temp") == 1.5);
  CHECK(o.flag("fast"));
  CHECK(o.sources().at("threads") == "env");
  ::unsetenv("LFMD_THREADS");
  ::unsetenv("LFMD_NAME");

  Options bad;
  CHECK_FALSE(bad.parse(c, {"-t", "65"}, &err));
  CHECK(err.find("out of range") != std::string::npos);
  CHECK_FALSE(bad.parse(c, {"--temp", "abc"}, &err));
  CHECK(err.find("not a valid number") != std::string::npos);
  CHECK_FALSE(bad.parse(c, {"--nope"}, &err));
  CHECK(err.find("unknown option --nope") != std::string::npos);
  CHECK_FALSE(bad.parse(c, {"--name"}, &err));
  CHECK(err.find("needs a value") != std::string::npos);
  CHECK(help_text(c).find("LFMD_TEMP") != std::string::npos);
}
