// Hugging Face tokenizer.json <-> VocabData, for the one tokenizer shape lfmd runs: byte-level BPE
// with the lfm2 / llama3 Split regex. Token typing follows llama.cpp's convert_hf_to_gguf.py.
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "engine/tokenizer/tokenizer.h"

namespace lfmd {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// The regex as tokenizer.json spells it, and llama.cpp's case-sensitive rewrite of it.
constexpr const char* kRegexHf =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kRegexLlama =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

[[noreturn]] void unsupported(const std::string& what) {
  throw std::runtime_error("tokenizer.json: unsupported " + what);
}

std::string type_of(const json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return "";
  return j["type"].get<std::string>();
}

bool truthy(const json& j, const char* key) {
  return j.contains(key) && j[key].is_boolean() && j[key].get<bool>();
}

// convert_hf_to_gguf.py's does_token_look_special: such added tokens become CONTROL even when
// not flagged special.
bool looks_special(const std::string& t) {
  auto ends = [&](const char* e) {
    return t.size() >= std::strlen(e) &&
           t.compare(t.size() - std::strlen(e), std::string::npos, e) == 0;
  };
  auto starts = [&](const char* b) { return t.rfind(b, 0) == 0; };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" ||
         (starts("<|") && ends("|>")) || (starts("<\xEF\xBD\x9C") && ends("\xEF\xBD\x9C>")) ||
         (starts("<unused") && ends(">"));
}

void check_byte_level(const json& bl, bool inside_sequence) {
  if (truthy(bl, "add_prefix_space"))
    unsupported("ByteLevel pre-tokenizer with add_prefix_space=true");
  // ByteLevel's own regex is the GPT-2 one; lfmd only runs the lfm2 / llama3 split.
  const bool use_regex =
      !bl.contains("use_regex") || !bl["use_regex"].is_boolean() || bl["use_regex"].get<bool>();
  if (use_regex)
    unsupported(
        std::string(inside_sequence ? "ByteLevel after Split" : "plain ByteLevel pre-tokenizer") +
        " with use_regex=true (the GPT-2 split regex; only the lfm2/llama3 Split regex is "
        "supported)");
  if (!inside_sequence)
    unsupported("plain ByteLevel pre-tokenizer without a Split (no pre-tokenization)");
}

void check_pre_tokenizer(const json& pt) {
  const std::string t = type_of(pt);
  if (t == "ByteLevel") return check_byte_level(pt, false);
  if (t != "Sequence")
    unsupported("pre_tokenizer type '" + (t.empty() ? std::string("null") : t) + "'");
  const json& seq = pt.value("pretokenizers", json::array());
  if (!seq.is_array() || seq.size() != 2 || type_of(seq[0]) != "Split" ||
      type_of(seq[1]) != "ByteLevel")
    unsupported("pre_tokenizer Sequence (expected [Split, ByteLevel])");
  const json& sp = seq[0];
  if (!sp.contains("pattern") || !sp["pattern"].is_object() || !sp["pattern"].contains("Regex"))
    unsupported("Split pattern (expected {\"Regex\": ...})");
  const std::string re = sp["pattern"]["Regex"].get<std::string>();
  if (re != kRegexHf && re != kRegexLlama) unsupported("Split regex '" + re + "'");
  if (sp.value("behavior", std::string()) != "Isolated")
    unsupported("Split behavior '" + sp.value("behavior", std::string()) + "'");
  if (truthy(sp, "invert")) unsupported("Split with invert=true");
  check_byte_level(seq[1], true);
}

// Reads one post-processor: BOS = the special token before $A in `single`, EOS = the one after.
void read_post_processor(const json& pp, VocabData& v, const std::map<std::string, int32_t>& ids) {
  if (pp.is_null()) return;
  const std::string t = type_of(pp);
  if (t == "ByteLevel") return;  // offsets only
  if (t == "Sequence") {
    for (const json& p : pp.value("processors", json::array())) read_post_processor(p, v, ids);
    return;
  }
  if (t != "TemplateProcessing") unsupported("post_processor type '" + t + "'");
  auto special_id = [&](const std::string& name) -> int32_t {
    if (pp.contains("special_tokens") && pp["special_tokens"].contains(name)) {
      const json& st = pp["special_tokens"][name];
      if (st.contains("ids") && st["ids"].is_array() && st["ids"].size() == 1)
        return st["ids"][0].get<int32_t>();
      if (st.contains("ids") && st["ids"].is_array() && st["ids"].size() > 1)
        unsupported("TemplateProcessing special token '" + name + "' with several ids");
    }
    auto it = ids.find(name);
    if (it == ids.end())
      throw std::runtime_error("tokenizer.json: post_processor names unknown token '" + name + "'");
    return it->second;
  };
  std::vector<int32_t> before, after;
  bool seen_a = false;
  for (const json& item : pp.value("single", json::array())) {
    if (item.contains("Sequence")) {
      if (item["Sequence"].value("id", std::string()) != "A")
        unsupported("TemplateProcessing single sequence other than $A");
      seen_a = true;
    } else if (item.contains("SpecialToken")) {
      (seen_a ? after : before)
          .push_back(special_id(item["SpecialToken"].value("id", std::string())));
    } else {
      unsupported("TemplateProcessing item " + item.dump());
    }
  }
  if (!seen_a || before.size() > 1 || after.size() > 1)
    unsupported("TemplateProcessing single template " + pp["single"].dump());
  if (!before.empty()) v.bos_id = before[0], v.add_bos = true;
  if (!after.empty()) v.eos_id = after[0], v.add_eos = true;
}

std::string config_token(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return {};
  const json& t = cfg[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string())
    return t["content"].get<std::string>();
  return {};
}

}  // namespace

VocabData Tokenizer::vocab_from_hf_json(std::string_view json_text, std::string_view config_text) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("tokenizer.json: not valid JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("model"))
    throw std::runtime_error("tokenizer.json: no \"model\" object");
  try {
    const json& model = j["model"];
    const std::string mt = type_of(model);
    if (!mt.empty() && mt != "BPE") unsupported("model type '" + mt + "' (only BPE)");
    if (truthy(model, "byte_fallback")) unsupported("BPE byte_fallback=true");
    if (model.contains("dropout") && !model["dropout"].is_null() &&
        model["dropout"].get<double>() != 0.0)
      unsupported("BPE dropout");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (model.contains(k) && model[k].is_string() && !model[k].get<std::string>().empty())
        unsupported(std::string("BPE ") + k);
    if (j.contains("normalizer") && !j["normalizer"].is_null())
      unsupported("normalizer '" + type_of(j["normalizer"]) + "'");
    check_pre_tokenizer(j.value("pre_tokenizer", json()));
    if (j.contains("decoder") && !j["decoder"].is_null() && type_of(j["decoder"]) != "ByteLevel")
      unsupported("decoder '" + type_of(j["decoder"]) + "' (only ByteLevel)");

    if (!model.contains("vocab") || !model["vocab"].is_object())
      throw std::runtime_error("tokenizer.json: model.vocab missing");
    std::map<int32_t, std::string> by_id;
    std::map<int32_t, TokenType> type_by_id;
    for (const auto& [text, idj] : model["vocab"].items()) {
      const int64_t id = idj.get<int64_t>();
      if (id < 0 || id >= INT32_MAX)
        throw std::runtime_error("tokenizer.json: bad id for '" + text + "'");
      if (!by_id.emplace(int32_t(id), text).second)
        throw std::runtime_error("tokenizer.json: id " + std::to_string(id) +
                                 " given to two vocab entries");
      type_by_id[int32_t(id)] = TokenType::Normal;
    }
    for (const json& at : j.value("added_tokens", json::array())) {
      const int64_t id = at.at("id").get<int64_t>();
      if (id < 0 || id >= INT32_MAX) throw std::runtime_error("tokenizer.json: bad added token id");
      const std::string content = at.at("content").get<std::string>();
      by_id[int32_t(id)] = content;  // the added token's text wins over the vocab entry
      type_by_id[int32_t(id)] = (truthy(at, "special") || looks_special(content))
                                    ? TokenType::Control
                                    : TokenType::UserDefined;
    }
    if (by_id.empty()) throw std::runtime_error("tokenizer.json: empty vocabulary");

    VocabData v;
    const int32_t n = by_id.rbegin()->first + 1;
    v.tokens.resize(n);
    v.types.assign(n, int32_t(TokenType::Unused));
    for (int32_t i = 0; i < n; ++i)
      v.tokens[i] = "[PAD" + std::to_string(i) + "]";  // converter's filler
    std::map<std::string, int32_t> ids;
    for (const auto& [id, text] : by_id) {
      v.tokens[id] = text;
      v.types[id] = int32_t(type_by_id[id]);
      ids[text] = id;
    }
    for (const json& m : model.value("merges", json::array())) {
      if (m.is_string()) {
        v.merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        throw std::runtime_error("tokenizer.json: bad merge entry " + m.dump());
      }
    }
    v.model = "gpt2";
    v.pre = "lfm2";
    v.ignore_merges = model.value("ignore_merges", false);
    v.add_bos = false;
    v.add_eos = false;
    read_post_processor(j.value("post_processor", json()), v, ids);
    auto find_id = [&](const std::string& t) {
      auto it = ids.find(t);
      return it == ids.end() ? -1 : it->second;
    };
    if (v.eos_id < 0)
      v.eos_id = find_id("<|im_end|>") >= 0 ? find_id("<|im_end|>") : find_id("<|endoftext|>");
    v.pad_id = find_id("<|pad|>");

    if (!config_text.empty()) {
      json cfg;
      try {
        cfg = json::parse(config_text);
      } catch (const json::exception& e) {
        throw std::runtime_error(std::string("tokenizer_config.json: not valid JSON: ") + e.what());
      }
      auto set_from = [&](const char* key, int32_t& dst) {
        const std::string t = config_token(cfg, key);
        if (t.empty()) return;
        dst = find_id(t);
        if (dst < 0)
          throw std::runtime_error(std::string("tokenizer_config.json: ") + key + " '" + t +
                                   "' is not a token");
      };
      set_from("bos_token", v.bos_id);
      set_from("eos_token", v.eos_id);
      set_from("pad_token", v.pad_id);
      if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
        v.add_bos = cfg["add_bos_token"].get<bool>();
      if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean())
        v.add_eos = cfg["add_eos_token"].get<bool>();
    }
    return v;
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("tokenizer.json: unexpected structure: ") + e.what());
  }
}

Tokenizer Tokenizer::from_hf_json(std::string_view json_text) {
  return Tokenizer(vocab_from_hf_json(json_text));
}

Tokenizer Tokenizer::from_hf_json(std::string_view json_text,
                                  std::string_view tokenizer_config_json) {
  return Tokenizer(vocab_from_hf_json(json_text, tokenizer_config_json));
}

std::string to_hf_json(const VocabData& v, bool merges_as_pairs) {
  auto type_at = [&](size_t i) {
    return v.types.empty() ? TokenType::Normal : TokenType(v.types[i]);
  };
  ordered_json added = ordered_json::array();
  ordered_json vocab = ordered_json::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const TokenType t = type_at(i);
    if (t == TokenType::Unused) continue;
    vocab[v.tokens[i]] = i;
    if (t == TokenType::Control || t == TokenType::Unknown || t == TokenType::UserDefined) {
      added.push_back({{"id", i},
                       {"content", v.tokens[i]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", t != TokenType::UserDefined}});
    }
  }
  ordered_json merges = ordered_json::array();
  for (const std::string& m : v.merges) {
    if (!merges_as_pairs) {
      merges.push_back(m);
      continue;
    }
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos)
      throw std::runtime_error("to_hf_json: merge '" + m + "' has no space");
    merges.push_back(ordered_json::array({m.substr(0, sp), m.substr(sp + 1)}));
  }

  ordered_json post = nullptr;
  const bool bos = v.add_bos && v.bos_id >= 0, eos = v.add_eos && v.eos_id >= 0;
  if (bos || eos) {
    auto special = [&](int32_t id, int type_id) {
      return ordered_json{{"SpecialToken", {{"id", v.tokens[id]}, {"type_id", type_id}}}};
    };
    auto seq = [](const char* id, int type_id) {
      return ordered_json{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
    };
    ordered_json single = ordered_json::array(), pair = ordered_json::array();
    for (int part = 0; part < 2; ++part) {
      ordered_json& dst = part == 0 ? single : pair;
      if (bos) dst.push_back(special(v.bos_id, 0));
      dst.push_back(seq("A", 0));
      if (eos) dst.push_back(special(v.eos_id, 0));
    }
    if (bos) pair.push_back(special(v.bos_id, 1));
    pair.push_back(seq("B", 1));
    if (eos) pair.push_back(special(v.eos_id, 1));
    ordered_json st = ordered_json::object();
    for (int32_t id : {bos ? v.bos_id : -1, eos ? v.eos_id : -1})
      if (id >= 0)
        st[v.tokens[id]] = {{"id", v.tokens[id]}, {"ids", {id}}, {"tokens", {v.tokens[id]}}};
    post = {
        {"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", st}};
  }

  ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"},
                           {"pattern", {{"Regex", kRegexHf}}},
                           {"behavior", "Isolated"},
                           {"invert", false}},
                          {{"type", "ByteLevel"},
                           {"add_prefix_space", false},
                           {"trim_offsets", true},
                           {"use_regex", false}}}}};
  j["post_processor"] = post;
  j["decoder"] = {{"type", "ByteLevel"},
                  {"add_prefix_space", true},
                  {"trim_offsets", true},
                  {"use_regex", true}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", v.ignore_merges},
                {"vocab", vocab},
                {"merges", merges}};
  return j.dump(1);
}

}  // namespace lfmd
