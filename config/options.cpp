#include "config/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace lfmd::config {
namespace {

const OptionSpec* find_spec(const Command& cmd, const std::string& name) {
  for (const auto& o : cmd.options) {
    if (name == o.name) return &o;
  }
  return nullptr;
}

const OptionSpec* find_short(const Command& cmd, char c) {
  for (const auto& o : cmd.options) {
    if (o.short_name == c) return &o;
  }
  return nullptr;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

std::string env_name(const char* option_name) {
  std::string e = "LFMD_";
  for (const char* p = option_name; *p; ++p) e += *p == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
  return e;
}

bool Options::assign(const OptionSpec& spec, const std::string& value, const std::string& source, std::string* error) {
  const std::string where = source == "flag" ? "--" + std::string(spec.name)
                          : source == "env" ? env_name(spec.name)
                          : "config file key '" + std::string(spec.name) + "'";
  if (spec.type == OptType::Int || spec.type == OptType::Float) {
    errno = 0;
    char* end = nullptr;
    double v;
    if (spec.type == OptType::Int) {
      long long i = std::strtoll(value.c_str(), &end, 10);
      v = static_cast<double>(i);
    } else {
      v = std::strtod(value.c_str(), &end);
    }
    if (value.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v)) {
      *error = where + ": '" + value + "' is not a valid " + (spec.type == OptType::Int ? "integer" : "number");
      return false;
    }
    if (v < spec.min || v > spec.max) {
      std::ostringstream os;
      os << where << ": " << value << " is out of range [" << spec.min << ", " << spec.max << "]";
      *error = os.str();
      return false;
    }
  } else if (spec.type == OptType::Bool) {
    if (value != "1" && value != "0" && value != "true" && value != "false") {
      *error = where + ": '" + value + "' is not a boolean (true/false/1/0)";
      return false;
    }
  }
  values_[spec.name] = value;
  source_[spec.name] = source;
  return true;
}

bool Options::parse(const Command& cmd, const std::vector<std::string>& args, std::string* error) {
  cmd_ = &cmd;
  for (const auto& o : cmd.options) {
    if (*o.default_value) {
      values_[o.name] = o.default_value;
      source_[o.name] = "default";
    }
  }
  // Flags first into a separate map so that precedence can be applied afterwards.
  std::vector<std::pair<const OptionSpec*, std::string>> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "--help" || a == "-h") {
      help_ = true;
      continue;
    }
    const OptionSpec* spec = nullptr;
    std::string value;
    bool has_value = false;
    if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      spec = find_spec(cmd, name);
      if (!spec && name.rfind("no-", 0) == 0) {
        const OptionSpec* neg = find_spec(cmd, name.substr(3));
        if (neg && neg->type == OptType::Bool) {
          flags.emplace_back(neg, "false");
          continue;
        }
      }
      if (!spec) {
        *error = "unknown option --" + name + " for '" + cmd.name + "' (see lfmd " + cmd.name + " --help)";
        return false;
      }
    } else if (a.size() == 2 && a[0] == '-' && (spec = find_short(cmd, a[1]))) {
    } else {
      *error = "unexpected argument '" + a + "' for '" + cmd.name + "' (see lfmd " + cmd.name + " --help)";
      return false;
    }
    if (!has_value) {
      if (spec->type == OptType::Bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        *error = "option --" + std::string(spec->name) + " needs a value";
        return false;
      }
    }
    flags.emplace_back(spec, value);
  }
  if (help_) return true;

  // Config file (lowest precedence after defaults): "name = value" lines, '#' comments.
  std::string config_path;
  for (auto& [spec, v] : flags) {
    if (std::string(spec->name) == "config") config_path = v;
  }
  if (config_path.empty() && find_spec(cmd, "config")) {
    if (const char* e = std::getenv(env_name("config").c_str())) config_path = e;
  }
  if (!config_path.empty()) {
    std::ifstream in(config_path);
    if (!in) {
      *error = "cannot read config file " + config_path;
      return false;
    }
    std::string line;
    for (int ln = 1; std::getline(in, line); ++ln) {
      line = trim(line.substr(0, line.find('#')));
      if (line.empty()) continue;
      auto eq = line.find('=');
      if (eq == std::string::npos) {
        *error = config_path + ":" + std::to_string(ln) + ": expected 'name = value'";
        return false;
      }
      std::string name = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      const OptionSpec* spec = find_spec(cmd, name);
      if (!spec) {
        *error = config_path + ":" + std::to_string(ln) + ": unknown option '" + name + "'";
        return false;
      }
      if (!assign(*spec, value, "file", error)) return false;
    }
  }
  for (const auto& o : cmd.options) {
    if (const char* e = std::getenv(env_name(o.name).c_str())) {
      if (!assign(o, e, "env", error)) return false;
    }
  }
  for (auto& [spec, v] : flags) {
    if (!assign(*spec, v, "flag", error)) return false;
  }
  return true;
}

bool Options::is_set(const std::string& name) const {
  auto it = source_.find(name);
  return it != source_.end() && it->second != "default";
}
std::string Options::str(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? "" : it->second;
}
int64_t Options::integer(const std::string& name) const { return std::strtoll(str(name).c_str(), nullptr, 10); }
double Options::number(const std::string& name) const { return std::strtod(str(name).c_str(), nullptr); }
bool Options::flag(const std::string& name) const {
  std::string v = str(name);
  return v == "true" || v == "1";
}

std::string help_text(const Command& cmd) {
  std::ostringstream os;
  os << cmd.summary << "\n\nusage: " << cmd.usage << "\n\noptions:\n";
  for (const auto& o : cmd.options) {
    std::string left = "  ";
    if (o.short_name) left += std::string("-") + o.short_name + ", ";
    left += "--" + std::string(o.name);
    if (o.type != OptType::Bool) left += o.type == OptType::String ? " TEXT" : o.type == OptType::Int ? " N" : " X";
    os << left;
    for (size_t i = left.size(); i < 28; ++i) os << ' ';
    os << o.help;
    if (*o.default_value) os << " (default " << o.default_value << ")";
    os << " [env " << env_name(o.name) << "]\n";
  }
  os << "  -h, --help                  show this help\n";
  return os.str();
}

}  // namespace lfmd::config
