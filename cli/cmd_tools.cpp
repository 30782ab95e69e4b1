// lfmd tokenize / logits / gen-model: inspection and test tooling.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "engine/session.h"
#include "engine/testmodel/generator.h"
#include "cli/cli_common.h"
#include "cli/commands.h"

namespace lfmd::cli {
namespace {

using config::OptionSpec;
using config::OptType;

// Ids separated by commas and/or whitespace; every id must be a non-negative integer.
std::vector<int32_t> parse_ids(const std::string& text, const std::string& where) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ',' || std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    if (j == i || j - i > 10) throw std::runtime_error(where + ": '" + text.substr(i, 12) + "' is not a token id");
    long long v = std::stoll(text.substr(i, j - i));
    if (v > INT32_MAX) throw std::runtime_error(where + ": token id " + std::to_string(v) + " is out of range");
    ids.push_back(static_cast<int32_t>(v));
    i = j;
  }
  return ids;
}

std::string ids_json(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  return out + "]";
}

int run_tokenize(const config::Options& o) {
  auto m = load_from_options(o);
  const bool bos = !o.flag("no-bos");
  if (!o.is_set("lines")) {
    std::printf("%s\n", ids_json(m->tokenizer->encode(o.str("text"), bos, true)).c_str());
    return 0;
  }
  // One JSON string per input line -> one JSON array per output line.
  std::ifstream in(o.str("lines"));
  if (!in) throw std::runtime_error("cannot read " + o.str("lines"));
  std::string line;
  for (int ln = 1; std::getline(in, line); ++ln) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw std::runtime_error(o.str("lines") + ":" + std::to_string(ln) + ": not a JSON string");
    }
    if (!j.is_string()) throw std::runtime_error(o.str("lines") + ":" + std::to_string(ln) + ": not a JSON string");
    std::printf("%s\n", ids_json(m->tokenizer->encode(j.get<std::string>(), bos, true)).c_str());
  }
  return 0;
}

// Writes an F32 copy of a model (same metadata and tensor names), dequantized by lfmd's
// reference code: a debugging aid and the input of the dequantization oracle test.
int run_dequant(const config::Options& o) {
  if (o.str("model").empty() || o.str("out").empty()) throw std::runtime_error("--model IN and --out OUT are required");
  gguf::Reader in(o.str("model"));
  gguf::Writer w;
  for (const auto& k : in.keys()) {
    if (k == "general.file_type") continue;
    w.set_value(k, *in.find(k));
  }
  for (const auto& t : in.tensors()) {
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    w.add_tensor(t.name, kernels::DType::F32, ne);
  }
  std::vector<float> buf;
  w.write(o.str("out"), [&](size_t i, const gguf::Writer::ByteSink& out) {
    const gguf::TensorInfo& t = in.tensors()[i];
    const size_t rb = kernels::row_bytes(t.type, t.ne[0]);
    buf.resize(t.ne[0]);
    for (int64_t r = 0; r < t.n_elements() / t.ne[0]; ++r) {
      kernels::dequantize_row(t.type, t.data + rb * r, buf.data(), t.ne[0]);
      out(buf.data(), buf.size() * sizeof(float));
    }
  });
  std::fprintf(stderr, "lfmd: wrote F32 copy %s\n", o.str("out").c_str());
  return 0;
}

int run_logits(const config::Options& o) {
  std::string text = o.str("tokens"), where = "--tokens";
  if (o.is_set("tokens-file")) {
    std::ifstream in(o.str("tokens-file"));
    if (!in) throw std::runtime_error("cannot read " + o.str("tokens-file"));
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
    where = o.str("tokens-file");
  }
  std::vector<int32_t> ids = parse_ids(text, where);
  if (ids.empty()) throw std::runtime_error("no tokens given (--tokens 1,2,3 or --tokens-file F)");
  if (o.str("out").empty()) throw std::runtime_error("--out FILE is required");
  auto m = load_from_options(o);
  for (int32_t id : ids) {
    if (id >= m->hp.n_vocab) throw std::runtime_error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(m->hp.n_vocab));
  }
  if (static_cast<int64_t>(ids.size()) > m->n_ctx) throw ContextOverflow(input_too_long_message(m->n_ctx, ids.size()));
  const std::string out_path = o.str("out");
  std::FILE* f = std::fopen(out_path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot create " + out_path);
  compute_all_logits(*m, ids, [&](int64_t, const float* rows, int64_t n) {
    size_t count = static_cast<size_t>(n * m->hp.n_vocab);
    if (std::fwrite(rows, sizeof(float), count, f) != count) throw std::runtime_error("write failed: " + out_path);
  });
  if (std::fclose(f) != 0) throw std::runtime_error("write failed: " + out_path);
  std::fprintf(stderr, "lfmd: wrote %zu x %lld float32 logits to %s\n", ids.size(), static_cast<long long>(m->hp.n_vocab), out_path.c_str());
  return 0;
}

int run_gen_model(const config::Options& o) {
  const TestModelPreset* p = find_test_model_preset(o.str("preset"));
  if (!p) {
    std::string names;
    for (const auto& x : test_model_presets()) names += (names.empty() ? "" : ", ") + x.name;
    throw std::runtime_error("unknown preset '" + o.str("preset") + "' (presets: " + names + ")");
  }
  kernels::DType type;
  if (!parse_weight_type(o.str("type"), &type)) throw std::runtime_error("unknown --type '" + o.str("type") + "' (f32, f16, bf16, q8_0, q4_0)");
  if (o.str("out").empty()) throw std::runtime_error("--out FILE is required");
  ThreadPool pool(o.integer("threads") > 0 ? static_cast<int>(o.integer("threads")) : 2);
  const bool tty = ::isatty(fileno(stderr));
  int last = -1;
  write_test_model(*p, type, static_cast<uint64_t>(o.integer("seed")), o.str("out"), &pool, [&](uint64_t done, uint64_t total) {
    int pct = static_cast<int>(100 * done / std::max<uint64_t>(total, 1));
    if (!tty || pct == last) return;
    last = pct;
    std::fprintf(stderr, "\rlfmd: writing %s %3d%% (%s of %s)", o.str("out").c_str(), pct, mib(done).c_str(), mib(total).c_str());
    if (done >= total) std::fprintf(stderr, "\n");
  });
  std::fprintf(stderr, "lfmd: wrote %s: %s, %s, seed %lld (random weights)\n", o.str("out").c_str(), p->name.c_str(),
               kernels::type_info(type).name, static_cast<long long>(o.integer("seed")));
  return 0;
}

config::Command tokenize_cmd() {
  config::Command c{"tokenize", "Print the token ids of a text as a JSON array (special tokens are parsed).",
                    "lfmd tokenize [--model M] --text TEXT [--no-bos]", model_options()};
  c.options.push_back({"text", OptType::String, "", "text to tokenize"});
  c.options.push_back({"lines", OptType::String, "", "file with one JSON string per line; prints one JSON array per line"});
  c.options.push_back({"no-bos", OptType::Bool, "", "do not add the BOS token"});
  return c;
}

config::Command logits_cmd() {
  config::Command c{"logits", "Write the logits of every position as raw little-endian float32 [n_tokens][n_vocab].",
                    "lfmd logits [--model M] (--tokens 1,2,3 | --tokens-file F) --out FILE", model_options()};
  c.options.push_back({"tokens", OptType::String, "", "token ids separated by commas"});
  c.options.push_back({"tokens-file", OptType::String, "", "file of token ids separated by commas or newlines"});
  c.options.push_back({"out", OptType::String, "", "output file", 0, 0, 'o'});
  return c;
}

config::Command dequant_cmd() {
  return {"dequant", "Write an F32 copy of a GGUF model (same metadata), dequantized by lfmd.",
          "lfmd dequant --model IN.gguf --out OUT.gguf",
          {{"model", OptType::String, "", "input GGUF", 0, 0, 'm'}, {"out", OptType::String, "", "output GGUF", 0, 0, 'o'}}};
}

config::Command gen_model_cmd() {
  std::string presets;
  static std::string usage;
  for (const auto& x : test_model_presets()) presets += (presets.empty() ? "" : "|") + x.name;
  usage = "lfmd gen-model --preset " + presets + " [--type f32|f16|bf16|q8_0|q4_0] [--seed S] --out FILE";
  config::Command c{"gen-model", "Write a deterministic random-weight LFM2 / LFM2-MoE GGUF of a preset shape.", usage.c_str(), {}};
  c.options.push_back({"preset", OptType::String, "tiny", "model shape"});
  c.options.push_back({"type", OptType::String, "f32", "weight type of the large matrices"});
  c.options.push_back({"seed", OptType::Int, "1", "random seed (same seed, same bytes)", 0, 9.2e18, 's'});
  c.options.push_back({"out", OptType::String, "", "output file", 0, 0, 'o'});
  c.options.push_back({"threads", OptType::Int, "0", "threads (0 = 2)", 0, 1024, 't'});
  return c;
}

}  // namespace

int cmd_tokenize(const std::vector<std::string>& a) { return guarded("tokenize", run_tokenize, tokenize_cmd(), a); }
int cmd_logits(const std::vector<std::string>& a) { return guarded("logits", run_logits, logits_cmd(), a); }
int cmd_dequant(const std::vector<std::string>& a) { return guarded("dequant", run_dequant, dequant_cmd(), a); }
int cmd_gen_model(const std::vector<std::string>& a) { return guarded("gen-model", run_gen_model, gen_model_cmd(), a); }

}  // namespace lfmd::cli
