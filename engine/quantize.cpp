// Tensor-type rules of the quantization mixes and the GGUF-to-GGUF quantizer.
//
// The rules reproduce the choices of llama.cpp's quantizer (src/llama-quant.cpp, v0.5.0) for the
// file types lfmd writes, restated here:
//  - only tensors named *weight with at least 2 non-trivial dimensions are quantized, never norms,
//    the MoE router (ffn_gate_inp), or the short-conv kernels;
//  - the output matrix, and the token embedding when the output is tied to it (no output.weight),
//    get Q6_K unless the file type is Q8_0 (Q8_0 when its rows do not fit the base block);
//  - Q4_K_M / Q5_K_M: attn_v and ffn_down of "more bits" layers get Q6_K: the first and last
//    eighth of the layers and every third one in between; Q4_K_S: attn_v of the first 4 attention
//    layers and ffn_down of the first eighth get Q5_K;
//  - models with exactly 8 experts: attn_v and attn_k get Q8_0, attn_output Q5_K (Q4_K_S/M);
//  - rows that are not a multiple of the chosen type's block fall back (Q6_K -> Q8_0, 32-blocks
//    -> F16).
// Counters follow llama.cpp's processing order: tensors sorted by layer number, then by name.
#include "engine/quantize.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "engine/gguf.h"
#include "engine/thread_pool.h"

namespace lfmd::quant {

using kernels::DType;

namespace {

struct FileTypeName {
  FileType t;
  const char* name;
  DType base;
};
constexpr FileTypeName kFileTypes[] = {
    {FileType::F32, "F32", DType::F32},        {FileType::F16, "F16", DType::F16},
    {FileType::BF16, "BF16", DType::BF16},     {FileType::Q8_0, "Q8_0", DType::Q8_0},
    {FileType::Q4_0, "Q4_0", DType::Q4_0},     {FileType::Q4_K_S, "Q4_K_S", DType::Q4_K},
    {FileType::Q4_K_M, "Q4_K_M", DType::Q4_K}, {FileType::Q5_K_S, "Q5_K_S", DType::Q5_K},
    {FileType::Q5_K_M, "Q5_K_M", DType::Q5_K}, {FileType::Q6_K, "Q6_K", DType::Q6_K},
};

const FileTypeName& entry(FileType t) {
  for (const auto& e : kFileTypes) {
    if (e.t == t) return e;
  }
  throw std::logic_error("unknown file type");
}

bool contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

// ggml_n_dims: the number of dimensions up to the last one larger than 1.
int effective_dims(const std::vector<int64_t>& ne) {
  for (int i = static_cast<int>(ne.size()) - 1; i >= 1; --i) {
    if (ne[i] > 1) return i + 1;
  }
  return 1;
}

bool is_quantizable(const TensorDesc& t) {
  if (effective_dims(t.ne) < 2) return false;
  const std::string& n = t.name;
  if (n.size() < 6 || n.compare(n.size() - 6, 6, "weight") != 0) return false;
  for (const char* skip : {"_norm.weight", "ffn_gate_inp.weight", "shortconv.conv.weight",
                           "ssm_conv1d", "position_embd", "token_types"}) {
    if (contains(n, skip)) return false;
  }
  return true;
}

enum class Role { TokenEmbd, Output, AttnV, AttnK, AttnOut, FfnDown, Other };

Role role_of(const std::string& n) {
  if (n == "output.weight") return Role::Output;
  if (n == "token_embd.weight") return Role::TokenEmbd;
  if (contains(n, "attn_v.weight")) return Role::AttnV;
  if (contains(n, "attn_k.weight")) return Role::AttnK;
  if (contains(n, "attn_output.weight")) return Role::AttnOut;
  // ffn_up / ffn_gate never change type in the mixes lfmd writes
  if (contains(n, "ffn_up") || contains(n, "ffn_gate")) return Role::Other;
  if (contains(n, "ffn_down")) return Role::FfnDown;
  return Role::Other;
}

int layer_of(const std::string& n) {
  int il = -1;
  if (std::sscanf(n.c_str(), "blk.%d.", &il) != 1) return -1;
  return il;
}

// First eighth, last eighth, and every third layer in between.
bool more_bits(int64_t i, int64_t n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

struct MixState {
  FileType ft;
  DType base;
  ModelFacts facts;
  bool tied = true;
  int64_t n_attn_v = 0, i_attn_v = 0, i_ffn_down = 0;
};

DType mix_type(MixState& s, const TensorDesc& t) {
  const bool km = s.ft == FileType::Q4_K_M || s.ft == FileType::Q5_K_M;
  const bool eight_experts = s.facts.n_expert == 8;
  DType ty = s.base;
  switch (role_of(t.name)) {
    case Role::Output:
    case Role::TokenEmbd:
      if (role_of(t.name) == Role::TokenEmbd && !s.tied) break;
      if (t.ne[0] % kernels::type_info(s.base).block_size != 0)
        ty = DType::Q8_0;
      else if (s.base != DType::Q8_0)
        ty = DType::Q6_K;
      break;
    case Role::AttnV: {
      const int64_t i = s.i_attn_v++;
      if (km && more_bits(i, s.n_attn_v))
        ty = DType::Q6_K;
      else if (s.ft == FileType::Q4_K_S && i < 4)
        ty = DType::Q5_K;
      if (eight_experts) ty = DType::Q8_0;
      break;
    }
    case Role::AttnK:
      if (eight_experts) ty = DType::Q8_0;
      break;
    case Role::FfnDown: {
      // Dense models count ffn_down tensors; MoE models read the layer from the name.
      int64_t il = s.i_ffn_down++;
      if (s.facts.n_expert > 1) {
        il = layer_of(t.name);
        if (il < 0 || il >= s.facts.n_layer)
          throw std::runtime_error("cannot tell the layer of tensor " + t.name);
      }
      if (km && more_bits(il, s.facts.n_layer))
        ty = DType::Q6_K;
      else if (s.ft == FileType::Q4_K_S && il < s.facts.n_layer / 8)
        ty = DType::Q5_K;
      break;
    }
    case Role::AttnOut:
      if (eight_experts && (s.ft == FileType::Q4_K_M || s.ft == FileType::Q4_K_S)) ty = DType::Q5_K;
      break;
    case Role::Other:
      break;
  }
  return ty;
}

// A type whose block fits rows of ne0 values, as llama.cpp falls back.
DType fit_block(const TensorDesc& t, DType ty) {
  const int64_t n = t.ne[0];
  if (n % kernels::type_info(ty).block_size == 0) return ty;
  if (ty == DType::Q6_K)
    ty = DType::Q8_0;
  else if (ty == DType::Q4_K || ty == DType::Q5_K) {
    throw std::runtime_error(
        "tensor " + t.name + ": rows of " + std::to_string(n) + " values do not fit " +
        kernels::type_info(ty).name +
        " blocks, and llama.cpp's fallback (Q5_0/Q5_1) is not supported by lfmd");
  }
  if (n % kernels::type_info(ty).block_size != 0) ty = DType::F16;
  return ty;
}

}  // namespace

bool parse_file_type(const std::string& s, FileType* out) {
  std::string u = s;
  std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return std::toupper(c); });
  for (const auto& e : kFileTypes) {
    if (u == e.name) {
      *out = e.t;
      return true;
    }
  }
  return false;
}

const char* file_type_name(FileType t) {
  return entry(t).name;
}
DType base_type(FileType t) {
  return entry(t).base;
}

std::string file_type_list() {
  std::string out;
  for (const auto& e : kFileTypes) {
    std::string l = e.name;
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
    out += (out.empty() ? "" : ", ") + l;
  }
  return out;
}

std::vector<DType> choose_types(const std::vector<TensorDesc>& tensors, FileType ft,
                                const ModelFacts& facts) {
  MixState s{ft, base_type(ft), facts};
  for (const auto& t : tensors) {
    if (t.name == "output.weight") s.tied = false;
    if (role_of(t.name) == Role::AttnV) ++s.n_attn_v;
  }
  // llama.cpp's order: non-layer tensors first, then by layer number, then by name.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int la = layer_of(tensors[a].name), lb = layer_of(tensors[b].name);
    if (la != lb) return la < lb;
    return tensors[a].name < tensors[b].name;
  });
  std::vector<DType> out(tensors.size());
  const bool quantized_base = kernels::type_info(s.base).block_size > 1;
  for (size_t i : order) {
    const TensorDesc& t = tensors[i];
    if (!is_quantizable(t))
      out[i] = t.type;
    else if (!quantized_base)
      out[i] = s.base;
    else
      out[i] = fit_block(t, mix_type(s, t));
  }
  return out;
}

void convert_rows(DType from, const void* src, DType to, void* dst, int64_t n_per_row,
                  int64_t n_rows, ThreadPool* pool) {
  const size_t rb_in = kernels::row_bytes(from, n_per_row),
               rb_out = kernels::row_bytes(to, n_per_row);
  if (from == to) {
    std::memcpy(dst, src, rb_in * static_cast<size_t>(n_rows));
    return;
  }
  auto work = [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(n_per_row));
    for (int64_t r = r0; r < r1; ++r) {
      const auto* in = static_cast<const uint8_t*>(src) + rb_in * static_cast<size_t>(r);
      auto* o = static_cast<uint8_t*>(dst) + rb_out * static_cast<size_t>(r);
      kernels::dequantize_row(from, in, row.data(), n_per_row);
      kernels::quantize_row(to, row.data(), o, n_per_row);  // every DType is writable
    }
  };
  if (pool && pool->size() > 1 && n_rows > 1)
    pool->parallel_for(n_rows, 1, work);
  else
    work(0, n_rows);
}

void quantize_file(const std::string& in_path, const std::string& out_path, FileType ft,
                   ThreadPool* pool, const std::function<void(uint64_t, uint64_t)>& progress) {
  gguf::Reader in(in_path);
  const std::string arch = in.get_string("general.architecture");
  ModelFacts facts;
  facts.n_layer = static_cast<int64_t>(in.get_uint(arch + ".block_count"));
  facts.n_expert = static_cast<int64_t>(in.get_uint_opt(arch + ".expert_count").value_or(0));
  std::vector<TensorDesc> descs;
  for (const auto& t : in.tensors())
    descs.push_back({t.name, std::vector<int64_t>(t.ne, t.ne + t.n_dims), t.type});
  const std::vector<DType> types = choose_types(descs, ft, facts);

  gguf::Writer w;
  for (const auto& k : in.keys()) {
    if (k == "general.file_type" || k == "general.quantization_version") continue;
    w.set_value(k, *in.find(k));
  }
  w.set_u32("general.quantization_version", 2);
  w.set_u32("general.file_type", static_cast<uint32_t>(ft));
  uint64_t total = 0, done = 0;
  for (size_t i = 0; i < descs.size(); ++i) {
    w.add_tensor(descs[i].name, types[i], descs[i].ne);
    total += w.tensor_bytes(i);
  }
  std::vector<uint8_t> buf;
  w.write(out_path, [&](size_t i, const gguf::Writer::ByteSink& out) {
    const gguf::TensorInfo& t = in.tensors()[i];
    const int64_t n_rows = t.n_elements() / t.ne[0];
    const size_t rb_in = kernels::row_bytes(t.type, t.ne[0]),
                 rb_out = kernels::row_bytes(types[i], t.ne[0]);
    // Slabs of ~16 MiB of output keep memory bounded for any tensor size.
    const int64_t slab = std::max<int64_t>(1, static_cast<int64_t>((16u << 20) / rb_out));
    for (int64_t r0 = 0; r0 < n_rows; r0 += slab) {
      const int64_t n = std::min(slab, n_rows - r0);
      buf.resize(rb_out * static_cast<size_t>(n));
      convert_rows(t.type, t.data + rb_in * static_cast<size_t>(r0), types[i], buf.data(), t.ne[0],
                   n, pool);
      out(buf.data(), buf.size());
      done += buf.size();
      if (progress) progress(done, total);
    }
  });
}

}  // namespace lfmd::quant
