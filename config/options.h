// Options are declared once (name, type, default, help); the command line (--name value),
// environment (LFMD_NAME) and config file (name = value) are all derived from that declaration,
// and so is --help. Precedence: flag > environment > config file > default.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lfmd::config {

enum class OptType { String, Int, Float, Bool };

struct OptionSpec {
  const char* name;  // "model" -> --model, LFMD_MODEL, `model = ...`
  OptType type;
  const char* default_value;  // "" = unset
  const char* help;
  double min = -1e300, max = 1e300;  // range for Int / Float
  char short_name = 0;                // e.g. 'n' -> -n
};

struct Command {
  const char* name;     // "complete"
  const char* summary;  // one line
  const char* usage;    // "lfmd complete --model M --prompt TEXT [options]"
  std::vector<OptionSpec> options;
};

class Options {
 public:
  // Parses argv (after the subcommand). Returns false and sets *error on a bad flag or value.
  // Handles --config FILE when the command declares a "config" option.
  bool parse(const Command& cmd, const std::vector<std::string>& args, std::string* error);

  bool help_requested() const { return help_; }
  bool is_set(const std::string& name) const;  // given by flag, env or file (not default)
  std::string str(const std::string& name) const;
  int64_t integer(const std::string& name) const;
  double number(const std::string& name) const;
  bool flag(const std::string& name) const;
  // Where each value came from, for the start-up log: name -> "flag" | "env" | "file" | "default".
  const std::map<std::string, std::string>& sources() const { return source_; }

 private:
  bool assign(const OptionSpec& spec, const std::string& value, const std::string& source, std::string* error);
  const Command* cmd_ = nullptr;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> source_;
  bool help_ = false;
};

std::string env_name(const char* option_name);  // "prompt-tokens" -> "LFMD_PROMPT_TOKENS"
std::string help_text(const Command& cmd);

}  // namespace lfmd::config
