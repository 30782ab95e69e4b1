#include "engine/hf_convert.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "engine/gguf.h"
#include "engine/safetensors.h"
#include "engine/thread_pool.h"
#include "engine/tokenizer/tokenizer.h"

namespace lfmd::hf {

using json = nlohmann::json;
using kernels::DType;

namespace {

std::string read_file(const std::string& path, bool required) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (required) throw std::runtime_error(path + ": cannot read (a checkpoint needs it)");
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse_json(const std::string& path, const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception&) {
    throw std::runtime_error(path + ": not valid JSON");
  }
}

// The hyperparameters the GGUF needs, read from config.json.
struct HParams {
  std::string arch;  // "lfm2" | "lfm2moe"
  int64_t D = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0, n_ctx = 0;
  int64_t l_cache = 3, n_expert = 0, n_expert_used = 0, n_ff_exp = 0, n_dense = 0;
  double eps = 1e-5, rope_theta = 1e6;
  std::vector<bool> attn;  // per layer
  std::optional<int64_t> head_dim;
};

int64_t need_int(const json& c, const char* key) {
  if (!c.contains(key) || !c[key].is_number_integer()) {
    throw std::runtime_error(std::string("config.json: missing integer '") + key + "'");
  }
  return c[key].get<int64_t>();
}

// Dense FFN width of lfm2 as the converter computes it (block_auto_adjust_ff_dim: 2/3, times
// block_ffn_dim_multiplier, rounded up to block_multiple_of).
int64_t lfm2_ff_dim(const json& c) {
  int64_t ff =
      c.contains("block_ff_dim") ? need_int(c, "block_ff_dim") : need_int(c, "intermediate_size");
  if (c.value("block_auto_adjust_ff_dim", false)) {
    ff = static_cast<int64_t>(2.0 * static_cast<double>(ff) / 3.0);
    if (c.contains("block_ffn_dim_multiplier") && c["block_ffn_dim_multiplier"].is_number()) {
      ff = static_cast<int64_t>(c["block_ffn_dim_multiplier"].get<double>() *
                                static_cast<double>(ff));
    }
    const int64_t m = c.value("block_multiple_of", int64_t{256});
    ff = m * ((ff + m - 1) / m);
  }
  return ff;
}

HParams read_hparams(const json& c) {
  HParams h;
  std::string a;
  if (c.contains("architectures") && c["architectures"].is_array() && !c["architectures"].empty()) {
    a = c["architectures"][0].get<std::string>();
  }
  const std::string mt = c.value("model_type", std::string());
  if (a == "Lfm2ForCausalLM" || a == "LFM2ForCausalLM" || (a.empty() && mt == "lfm2"))
    h.arch = "lfm2";
  else if (a == "Lfm2MoeForCausalLM" || (a.empty() && mt == "lfm2_moe"))
    h.arch = "lfm2moe";
  else
    throw std::runtime_error("config.json: architecture '" + (a.empty() ? mt : a) +
                             "' is not Lfm2ForCausalLM or Lfm2MoeForCausalLM");
  h.D = need_int(c, "hidden_size");
  h.n_layer = need_int(c, "num_hidden_layers");
  h.n_head = need_int(c, "num_attention_heads");
  h.n_head_kv = c.contains("num_key_value_heads") ? need_int(c, "num_key_value_heads") : h.n_head;
  h.n_vocab = need_int(c, "vocab_size");
  h.n_ctx = c.value("max_position_embeddings", int64_t{128000});
  h.l_cache = c.value("conv_L_cache", int64_t{3});
  h.eps = c.value("norm_eps", 1e-5);
  if (c.contains("rope_theta"))
    h.rope_theta = c["rope_theta"].get<double>();
  else if (c.contains("rope_parameters") && c["rope_parameters"].contains("rope_theta"))
    h.rope_theta = c["rope_parameters"]["rope_theta"].get<double>();
  if (c.contains("head_dim") && c["head_dim"].is_number_integer())
    h.head_dim = c["head_dim"].get<int64_t>();
  if (h.D <= 0 || h.n_layer <= 0 || h.n_head <= 0 || h.D % h.n_head != 0)
    throw std::runtime_error("config.json: inconsistent hidden_size / num_attention_heads");
  h.attn.assign(static_cast<size_t>(h.n_layer), false);
  if (c.contains("layer_types")) {
    const json& lt = c["layer_types"];
    if (!lt.is_array() || static_cast<int64_t>(lt.size()) != h.n_layer)
      throw std::runtime_error("config.json: layer_types must list num_hidden_layers entries");
    for (size_t i = 0; i < lt.size(); ++i) h.attn[i] = lt[i].get<std::string>() == "full_attention";
  } else if (c.contains("full_attn_idxs")) {
    for (const auto& i : c["full_attn_idxs"]) {
      const int64_t il = i.get<int64_t>();
      if (il < 0 || il >= h.n_layer)
        throw std::runtime_error("config.json: full_attn_idxs entry out of range");
      h.attn[static_cast<size_t>(il)] = true;
    }
  } else {
    h.attn.assign(static_cast<size_t>(h.n_layer), true);
  }
  if (h.arch == "lfm2") {
    h.n_ff = lfm2_ff_dim(c);
  } else {
    h.n_ff = need_int(c, "intermediate_size");
    h.n_expert = need_int(c, "num_experts");
    h.n_expert_used = need_int(c, "num_experts_per_tok");
    h.n_ff_exp = need_int(c, "moe_intermediate_size");
    h.n_dense = c.value("num_dense_layers", int64_t{0});
  }
  return h;
}

// A run of rows of one HF tensor (rows of the last dimension; n_rows < 0: all of them).
struct Part {
  const StTensor* t;
  int64_t row0 = 0, n_rows = -1;
};

// One GGUF tensor: its parts (one HF tensor, or one per expert, stacked) and its ggml shape.
struct OutTensor {
  std::string name;
  std::vector<int64_t> ne;
  std::vector<Part> parts;
};

class Planner {
 public:
  Planner(const Checkpoint& ck, const HParams& h) : ck_(ck), h_(h) {}

  // Adds GGUF tensor `gguf` from HF tensor `hf`, whose torch shape must be `shape`.
  void add(const std::string& gguf, const std::string& hf, std::vector<int64_t> shape) {
    const StTensor* t = get(hf, shape);
    if (shape.size() == 3 && shape[1] == 1)
      shape.erase(shape.begin() + 1);  // conv [D,1,L] -> [D,L]
    out_.push_back({gguf, std::vector<int64_t>(shape.rbegin(), shape.rend()), {Part{t}}});
  }
  // Stacks experts.E.<w>.weight of layer il (each of torch shape `shape`) into one tensor.
  void add_experts(const std::string& gguf, int64_t il, const std::string& w,
                   const std::vector<int64_t>& shape) {
    OutTensor o{gguf, {shape[1], shape[0], h_.n_expert}, {}};
    for (int64_t e = 0; e < h_.n_expert; ++e) {
      o.parts.push_back(Part{get("model.layers." + std::to_string(il) + ".feed_forward.experts." +
                                     std::to_string(e) + "." + w + ".weight",
                                 shape)});
    }
    out_.push_back(std::move(o));
  }
  // transformers >= 5 layout: experts.gate_up_proj [E, 2Fe, D] (per expert Fe gate rows, then Fe
  // up rows) and experts.down_proj [E, D, Fe], split / taken as llama.cpp's stacked tensors.
  void add_fused_experts(const std::string& b, const std::string& m) {
    const int64_t E = h_.n_expert, Fe = h_.n_ff_exp, D = h_.D;
    const StTensor* gu = get(m + "feed_forward.experts.gate_up_proj", {E, 2 * Fe, D});
    OutTensor gate{b + "ffn_gate_exps.weight", {D, Fe, E}, {}},
        up{b + "ffn_up_exps.weight", {D, Fe, E}, {}};
    for (int64_t e = 0; e < E; ++e) {
      gate.parts.push_back(Part{gu, 2 * Fe * e, Fe});
      up.parts.push_back(Part{gu, 2 * Fe * e + Fe, Fe});
    }
    out_.push_back(std::move(gate));
    out_.push_back({b + "ffn_down_exps.weight",
                    {Fe, D, E},
                    {Part{get(m + "feed_forward.experts.down_proj", {E, D, Fe})}}});
    out_.push_back(std::move(up));
  }
  std::vector<OutTensor> finish() {
    for (const auto& [name, t] : ck_.all()) {
      if (!used_.count(name))
        throw std::runtime_error("checkpoint tensor '" + name + "' has no GGUF name for " +
                                 h_.arch);
    }
    return std::move(out_);
  }
  bool has(const std::string& hf) const { return ck_.find(hf) != nullptr; }

 private:
  const StTensor* get(const std::string& hf, const std::vector<int64_t>& shape) {
    const StTensor* t = ck_.find(hf);
    if (!t) throw std::runtime_error("checkpoint has no tensor '" + hf + "'");
    std::vector<int64_t> want = shape;
    if (t->shape != want) {
      std::string w = "[";
      for (size_t i = 0; i < want.size(); ++i) w += (i ? ", " : "") + std::to_string(want[i]);
      throw std::runtime_error("tensor '" + hf + "' has shape " + t->shape_string() +
                               ", config.json implies " + w + "]");
    }
    used_.insert(hf);
    return t;
  }
  const Checkpoint& ck_;
  const HParams& h_;
  std::vector<OutTensor> out_;
  std::set<std::string> used_;
};

std::vector<OutTensor> plan_tensors(const Checkpoint& ck, const HParams& h) {
  Planner p(ck, h);
  const int64_t D = h.D, hd = h.head_dim.value_or(D / h.n_head);
  p.add("token_embd.weight", "model.embed_tokens.weight", {h.n_vocab, D});
  for (int64_t il = 0; il < h.n_layer; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".",
                      m = "model.layers." + std::to_string(il) + ".";
    p.add(b + "attn_norm.weight", m + "operator_norm.weight", {D});
    if (h.attn[static_cast<size_t>(il)]) {
      p.add(b + "attn_q.weight", m + "self_attn.q_proj.weight", {h.n_head * hd, D});
      p.add(b + "attn_k.weight", m + "self_attn.k_proj.weight", {h.n_head_kv * hd, D});
      p.add(b + "attn_v.weight", m + "self_attn.v_proj.weight", {h.n_head_kv * hd, D});
      p.add(b + "attn_output.weight", m + "self_attn.out_proj.weight", {D, h.n_head * hd});
      p.add(b + "attn_q_norm.weight", m + "self_attn.q_layernorm.weight", {hd});
      p.add(b + "attn_k_norm.weight", m + "self_attn.k_layernorm.weight", {hd});
    } else {
      p.add(b + "shortconv.conv.weight", m + "conv.conv.weight", {D, 1, h.l_cache});
      p.add(b + "shortconv.in_proj.weight", m + "conv.in_proj.weight", {3 * D, D});
      p.add(b + "shortconv.out_proj.weight", m + "conv.out_proj.weight", {D, D});
    }
    p.add(b + "ffn_norm.weight", m + "ffn_norm.weight", {D});
    if (h.n_expert > 0 && il >= h.n_dense) {
      p.add(b + "ffn_gate_inp.weight", m + "feed_forward.gate.weight", {h.n_expert, D});
      p.add(b + "exp_probs_b.bias", m + "feed_forward.expert_bias", {h.n_expert});
      if (p.has(m + "feed_forward.experts.gate_up_proj")) {
        p.add_fused_experts(b, m);
      } else {
        p.add_experts(b + "ffn_gate_exps.weight", il, "w1", {h.n_ff_exp, D});
        p.add_experts(b + "ffn_down_exps.weight", il, "w2", {D, h.n_ff_exp});
        p.add_experts(b + "ffn_up_exps.weight", il, "w3", {h.n_ff_exp, D});
      }
    } else {
      p.add(b + "ffn_gate.weight", m + "feed_forward.w1.weight", {h.n_ff, D});
      p.add(b + "ffn_down.weight", m + "feed_forward.w2.weight", {D, h.n_ff});
      p.add(b + "ffn_up.weight", m + "feed_forward.w3.weight", {h.n_ff, D});
    }
  }
  p.add("token_embd_norm.weight", "model.embedding_norm.weight", {D});
  if (p.has("lm_head.weight")) p.add("output.weight", "lm_head.weight", {h.n_vocab, D});
  return p.finish();
}

bool ends_with(const std::string& s, const char* suf) {
  const size_t n = std::strlen(suf);
  return s.size() >= n && s.compare(s.size() - n, n, suf) == 0;
}

// The converter keeps these in F32 whatever the output type.
bool converter_keeps_f32(const OutTensor& t) {
  return t.ne.size() <= 1 || ends_with(t.name, "_norm.weight") || !ends_with(t.name, ".weight") ||
         t.name.find("ffn_gate_inp") != std::string::npos ||
         t.name.find("shortconv.conv") != std::string::npos;
}

std::vector<DType> output_types(const std::vector<OutTensor>& ts, quant::FileType ft,
                                const HParams& h) {
  const DType base = quant::base_type(ft);
  std::vector<DType> types;
  if (kernels::type_info(base).block_size == 1) {
    for (const auto& t : ts) types.push_back(converter_keeps_f32(t) ? DType::F32 : base);
    return types;
  }
  std::vector<quant::TensorDesc> descs;
  for (const auto& t : ts) descs.push_back({t.name, t.ne, DType::F32});
  return quant::choose_types(descs, ft, {h.n_layer, h.n_expert});
}

void write_hparams(gguf::Writer& w, const HParams& h, quant::FileType ft, const std::string& name) {
  const std::string a = h.arch + ".";
  w.set_string("general.architecture", h.arch);
  w.set_string("general.name", name);
  w.set_u32("general.file_type", static_cast<uint32_t>(ft));
  w.set_u32("general.quantization_version", 2);
  w.set_u32(a + "vocab_size", static_cast<uint32_t>(h.n_vocab));
  w.set_u32(a + "context_length", static_cast<uint32_t>(h.n_ctx));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(h.D));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(h.n_ff));
  w.set_u32(a + "block_count", static_cast<uint32_t>(h.n_layer));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(h.n_head));
  std::vector<int32_t> kv;
  for (bool at : h.attn) kv.push_back(at ? static_cast<int32_t>(h.n_head_kv) : 0);
  w.set_array_i32(a + "attention.head_count_kv", kv);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(h.eps));
  w.set_f32(a + "rope.freq_base", static_cast<float>(h.rope_theta));
  w.set_u32(a + "shortconv.l_cache", static_cast<uint32_t>(h.l_cache));
  if (h.head_dim) {
    w.set_u32(a + "attention.key_length", static_cast<uint32_t>(*h.head_dim));
    w.set_u32(a + "attention.value_length", static_cast<uint32_t>(*h.head_dim));
  }
  if (h.n_expert > 0) {
    w.set_u32(a + "expert_count", static_cast<uint32_t>(h.n_expert));
    w.set_u32(a + "expert_used_count", static_cast<uint32_t>(h.n_expert_used));
    w.set_u32(a + "expert_feed_forward_length", static_cast<uint32_t>(h.n_ff_exp));
    w.set_u32(a + "leading_dense_block_count", static_cast<uint32_t>(h.n_dense));
    w.set_u32(a + "expert_gating_func", 2);  // sigmoid
  }
}

// tokenizer.json + tokenizer_config.json (+ chat_template.jinja) -> tokenizer.ggml.*, padded to
// the model's vocabulary with UNUSED "[PAD{id}]" entries as the converter does.
void write_tokenizer(gguf::Writer& w, const std::string& dir, int64_t n_vocab) {
  const std::string tj = read_file(dir + "/tokenizer.json", true);
  const std::string tc = read_file(dir + "/tokenizer_config.json", false);
  VocabData v;
  try {
    v = Tokenizer::vocab_from_hf_json(tj, tc);
  } catch (const std::exception& e) {
    throw std::runtime_error(dir + "/" + e.what());
  }
  if (static_cast<int64_t>(v.tokens.size()) > n_vocab)
    throw std::runtime_error("tokenizer.json has " + std::to_string(v.tokens.size()) +
                             " tokens, more than vocab_size " + std::to_string(n_vocab));
  for (int64_t i = static_cast<int64_t>(v.tokens.size()); i < n_vocab; ++i) {
    v.tokens.push_back("[PAD" + std::to_string(i) + "]");
    v.types.push_back(static_cast<int32_t>(TokenType::Unused));
  }
  w.set_string("tokenizer.ggml.model", v.model);
  w.set_string("tokenizer.ggml.pre", v.pre);
  w.set_array_string("tokenizer.ggml.tokens", v.tokens);
  w.set_array_i32("tokenizer.ggml.token_type", v.types);
  w.set_array_string("tokenizer.ggml.merges", v.merges);
  if (v.bos_id >= 0) w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  if (v.eos_id >= 0) w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  if (v.pad_id >= 0) w.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.pad_id));
  w.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  w.set_bool("tokenizer.ggml.add_eos_token", v.add_eos);
  std::string tmpl = read_file(dir + "/chat_template.jinja", false);
  if (tmpl.empty() && !tc.empty()) {
    const json c = parse_json(dir + "/tokenizer_config.json", tc);
    if (c.contains("chat_template") && c["chat_template"].is_string())
      tmpl = c["chat_template"].get<std::string>();
    else if (c.contains("chat_template") && c["chat_template"].is_array()) {
      for (const auto& t : c["chat_template"]) {  // [{name, template}]: the default one
        if (t.value("name", std::string()) == "default") tmpl = t.value("template", std::string());
      }
    }
  }
  if (!tmpl.empty()) w.set_string("tokenizer.chat_template", tmpl);
}

std::string model_name(const json& c, const std::string& dir) {
  std::string n = c.value("_name_or_path", std::string());
  if (n.empty()) {
    n = dir;
    while (n.size() > 1 && n.back() == '/') n.pop_back();
  }
  const size_t slash = n.find_last_of('/');
  return slash == std::string::npos ? n : n.substr(slash + 1);
}

}  // namespace

ConvertStats convert_checkpoint(const std::string& dir, const std::string& out, quant::FileType ft,
                                ThreadPool* pool,
                                const std::function<void(uint64_t, uint64_t)>& progress) {
  const json cfg = parse_json(dir + "/config.json", read_file(dir + "/config.json", true));
  const HParams h = read_hparams(cfg);
  const Checkpoint ck(dir);
  const std::vector<OutTensor> ts = plan_tensors(ck, h);
  const std::vector<DType> types = output_types(ts, ft, h);

  gguf::Writer w;
  write_hparams(w, h, ft, model_name(cfg, dir));
  write_tokenizer(w, dir, h.n_vocab);
  uint64_t total = 0, done = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    w.add_tensor(ts[i].name, types[i], ts[i].ne);
    total += w.tensor_bytes(i);
  }
  std::vector<uint8_t> buf;
  w.write(out, [&](size_t i, const gguf::Writer::ByteSink& sink) {
    const OutTensor& t = ts[i];
    const int64_t n0 = t.ne[0];
    const size_t rb_out = kernels::row_bytes(types[i], n0);
    const int64_t slab = std::max<int64_t>(1, static_cast<int64_t>((16u << 20) / rb_out));
    for (const Part& part : t.parts) {
      const int64_t rows = part.n_rows >= 0 ? part.n_rows : part.t->n_elements() / n0;
      const size_t rb_in = kernels::row_bytes(part.t->type, n0);
      const uint8_t* src = part.t->data + rb_in * static_cast<size_t>(part.row0);
      for (int64_t r0 = 0; r0 < rows; r0 += slab) {
        const int64_t n = std::min(slab, rows - r0);
        buf.resize(rb_out * static_cast<size_t>(n));
        quant::convert_rows(part.t->type, src + rb_in * static_cast<size_t>(r0), types[i],
                            buf.data(), n0, n, pool);
        sink(buf.data(), buf.size());
        done += buf.size();
        if (progress) progress(done, total);
      }
    }
  });
  return {h.arch, ts.size()};
}

}  // namespace lfmd::hf
