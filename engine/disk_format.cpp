#include "engine/disk_format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "engine/temp_path.h"

namespace lfmd {
namespace {

constexpr char kMagic[8] = {'L', 'F', 'M', 'D', 'P', 'F', 'X', 'C'};
constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kMaxTokens = 1ull << 26;  // far above any context; bounds allocations

uint64_t rotl(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

// Bijective 64-bit mixer (xor-shift / multiply rounds).
uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= kP2;
  x ^= x >> 29;
  x *= kP1;
  x ^= x >> 32;
  return x;
}

std::string errno_text() {
  return std::strerror(errno);
}

// Owns a file descriptor.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Writes all of [p, p+n) and feeds it to `sum`.
void write_all(int fd, const void* p, size_t n, Checksum* sum, const std::string& what) {
  if (sum) sum->update(p, n);
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, std::min<size_t>(n, 1u << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw std::runtime_error("cannot write " + what + ": " + errno_text());
    c += w;
    n -= static_cast<size_t>(w);
  }
}

// Reads exactly n bytes; false at end of file or on an error.
bool read_all(int fd, void* p, size_t n, Checksum* sum) {
  char* c = static_cast<char*>(p);
  size_t left = n;
  while (left > 0) {
    const ssize_t r = ::read(fd, c, std::min<size_t>(left, 1u << 30));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    left -= static_cast<size_t>(r);
  }
  if (sum) sum->update(p, n);
  return true;
}

uint64_t kv_floats_of(const Hparams& hp) {
  uint64_t f = 0;
  for (int64_t l = 0; l < hp.n_layer; ++l)
    f += static_cast<uint64_t>(hp.n_head_kv[l] * hp.head_dim);
  return f;
}

uint64_t n_conv_of(const Hparams& hp) {
  uint64_t n = 0;
  for (int64_t l = 0; l < hp.n_layer; ++l) n += hp.is_attention(l) ? 0 : 1;
  return n;
}

// K + V bytes of one token over all attention layers, rows stored as kv_type.
uint64_t kv_token_bytes_of(const Hparams& hp, uint32_t kv_type) {
  uint64_t b = 0;
  for (int64_t l = 0; l < hp.n_layer; ++l)
    if (hp.is_attention(l))
      b += 2 * kernels::kv_row_bytes(static_cast<kernels::KvType>(kv_type), hp.n_head_kv[l] * hp.head_dim);
  return b;
}

uint64_t payload_bytes_of(const Hparams& hp, uint32_t kv_type, uint64_t n_tokens, uint64_t n_snaps) {
  const uint64_t conv = static_cast<uint64_t>((hp.conv_l_cache - 1) * hp.n_embd);
  return n_tokens * kv_token_bytes_of(hp, kv_type) + 4 * (1 + n_snaps) * n_conv_of(hp) * conv;
}

// Calls f(rows, bytes) for the stored rows [0, n) of one K or V cache, block by block, as
// token-major rows [rows][row_bytes] (the file's order; the blocks in memory are head-major):
// gathered into `buf` before f when writing, scattered from it after f when reading.
template <class F>
bool for_rows(const SequenceState::Layer& l, const KvBlocks& kv, int64_t n, bool reading, F f) {
  std::vector<uint8_t> buf(static_cast<size_t>(std::min(n, kernels::kKvBlockTokens)) * l.row_bytes);
  bool ok = true;
  for (int64_t b = 0; ok && b * kernels::kKvBlockTokens < n; ++b) {
    const int64_t rows = std::min(kernels::kKvBlockTokens, n - b * kernels::kKvBlockTokens);
    if (!reading) l.gather_rows(kv, b, rows, buf.data());
    ok = f(buf.data(), static_cast<size_t>(rows) * l.row_bytes);
    if (ok && reading) l.scatter_rows(kv, b, rows, buf.data());
  }
  return ok;
}

ReadStatus fail(DiscardReason r, std::string detail) {
  return {false, r, std::move(detail)};
}

// Opens `path` and reads its head into `h`, tokens and snaps; checks everything but the payload.
ReadStatus open_head(const std::string& path, const DiskCacheKey& key, const Hparams& hp, Fd& f,
                     FileHeader& h, EntryHead* out) {
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (f.fd < 0 || ::fstat(f.fd, &st) != 0)
    return fail(DiscardReason::Io, "cannot open: " + errno_text());
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < sizeof h || !read_all(f.fd, &h, sizeof h, nullptr))
    return fail(DiscardReason::Truncated, "shorter than its header");
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0)
    return fail(DiscardReason::Format, "not a prefix-cache entry");
  if (h.version != key.version)
    return fail(DiscardReason::Version, "format version " + std::to_string(h.version) +
                                            ", this lfmd writes " + std::to_string(key.version));
  if (checksum64(&h, offsetof(FileHeader, header_sum), 1) != h.header_sum)
    return fail(DiscardReason::Checksum, "header checksum mismatch");
  if (h.n_tokens == 0 || h.n_tokens > kMaxTokens || h.n_snaps > h.n_tokens ||
      h.payload_bytes > (1ull << 48)) {
    return fail(DiscardReason::Format, "implausible sizes in the header");
  }
  const uint64_t expect = sizeof h + 4 * h.n_tokens + 8 * h.n_snaps + h.payload_bytes + 8;
  if (size < expect)
    return fail(DiscardReason::Truncated,
                std::to_string(size) + " bytes, expected " + std::to_string(expect));
  if (size > expect)
    return fail(DiscardReason::Format,
                std::to_string(size) + " bytes, expected " + std::to_string(expect));
  out->tokens.resize(h.n_tokens);
  out->snaps.resize(h.n_snaps);
  Checksum sum(3);
  if (!read_all(f.fd, out->tokens.data(), 4 * h.n_tokens, &sum) ||
      !read_all(f.fd, out->snaps.data(), 8 * h.n_snaps, &sum)) {
    return fail(DiscardReason::Io, "read failed");
  }
  if (sum.digest() != h.list_sum)
    return fail(DiscardReason::Checksum, "token list checksum mismatch");
  if (h.kv_type != key.kv_type)
    return fail(DiscardReason::KvType, "KV type " + std::to_string(h.kv_type) +
                                           ", this server uses " + std::to_string(key.kv_type));
  if (h.model_id[0] != key.model_id[0] || h.model_id[1] != key.model_id[1])
    return fail(DiscardReason::Model, "written for another model file");
  if (h.n_layer != static_cast<uint64_t>(hp.n_layer) || h.kv_floats != kv_floats_of(hp) ||
      h.conv_floats != static_cast<uint64_t>((hp.conv_l_cache - 1) * hp.n_embd) ||
      h.payload_bytes != payload_bytes_of(hp, key.kv_type, h.n_tokens, h.n_snaps)) {
    return fail(DiscardReason::Format, "state shape does not match the model");
  }
  for (size_t i = 0; i < out->snaps.size(); ++i) {
    const int64_t s = out->snaps[i];
    if (s <= 0 || s >= static_cast<int64_t>(h.n_tokens) || (i > 0 && s <= out->snaps[i - 1])) {
      return fail(DiscardReason::Format, "bad snapshot point " + std::to_string(s));
    }
  }
  out->file_bytes = size;
  return {};
}

}  // namespace

Checksum::Checksum(uint64_t seed) {
  for (int i = 0; i < 4; ++i) h_[i] = mix(seed + kP1 * static_cast<uint64_t>(i + 1));
}

void Checksum::block(const uint8_t* b) {
  for (int i = 0; i < 4; ++i) {
    uint64_t w;
    std::memcpy(&w, b + 8 * i, 8);
    h_[i] = rotl(h_[i] ^ (w * kP1), 29) * kP2;
  }
}

void Checksum::update(const void* data, size_t n) {
  if (n == 0) return;  // data may be null (an empty vector, e.g. a conv layer's K rows)
  const uint8_t* p = static_cast<const uint8_t*>(data);
  len_ += n;
  if (nbuf_ > 0) {
    const size_t take = std::min(n, sizeof buf_ - nbuf_);
    std::memcpy(buf_ + nbuf_, p, take);
    nbuf_ += take;
    p += take;
    n -= take;
    if (nbuf_ < sizeof buf_) return;
    block(buf_);
    nbuf_ = 0;
  }
  for (; n >= 32; n -= 32, p += 32) block(p);
  std::memcpy(buf_, p, n);
  nbuf_ = n;
}

uint64_t Checksum::digest() const {
  Checksum c = *this;
  if (c.nbuf_ > 0) {
    std::memset(c.buf_ + c.nbuf_, 0, sizeof buf_ - c.nbuf_);
    c.block(c.buf_);
  }
  uint64_t x = mix(len_ ^ kP2);
  for (int i = 0; i < 4; ++i) x = rotl(x ^ mix(c.h_[i]), 27) * kP1;
  return mix(x);
}

uint64_t checksum64(const void* data, size_t n, uint64_t seed) {
  Checksum c(seed);
  c.update(data, n);
  return c.digest();
}

std::array<uint64_t, 2> model_identity(const std::string& path, uint64_t data_offset) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (f.fd < 0 || ::fstat(f.fd, &st) != 0)
    throw std::runtime_error("cannot read " + path + ": " + errno_text());
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  data_offset = std::min(data_offset, size);
  Checksum a(11), b(22);
  a.update(&size, 8);
  b.update(&size, 8);
  std::vector<uint8_t> buf(1u << 20);
  auto feed = [&](uint64_t off, uint64_t n) {
    while (n > 0) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(n, buf.size()));
      const ssize_t r = ::pread(f.fd, buf.data(), want, static_cast<off_t>(off));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) throw std::runtime_error("cannot read " + path + ": " + errno_text());
      a.update(buf.data(), static_cast<size_t>(r));
      b.update(buf.data(), static_cast<size_t>(r));
      off += static_cast<uint64_t>(r);
      n -= static_cast<uint64_t>(r);
    }
  };
  feed(0, data_offset);  // header, metadata, tensor-info table
  const uint64_t data = size - data_offset, kSample = 4096, kSamples = 256;
  if (data <= kSample * kSamples) {
    feed(data_offset, data);
  } else {
    for (uint64_t i = 0; i < kSamples; ++i)
      feed(data_offset + (data - kSample) / (kSamples - 1) * i, kSample);
  }
  return {a.digest(), b.digest()};
}

const char* discard_reason_name(DiscardReason r) {
  switch (r) {
    case DiscardReason::Model:
      return "model";
    case DiscardReason::KvType:
      return "kv_type";
    case DiscardReason::Version:
      return "version";
    case DiscardReason::Format:
      return "format";
    case DiscardReason::Truncated:
      return "truncated";
    case DiscardReason::Checksum:
      return "checksum";
    case DiscardReason::Io:
      return "io";
    case DiscardReason::TooLarge:
      return "too_large";
    case DiscardReason::kCount:
      break;
  }
  return "unknown";
}

uint64_t entry_file_bytes(const Hparams& hp, uint64_t n_tokens, uint64_t n_snaps, kernels::KvType kv_type) {
  return sizeof(FileHeader) + 4 * n_tokens + 8 * n_snaps +
         payload_bytes_of(hp, static_cast<uint32_t>(kv_type), n_tokens, n_snaps) + 8;
}

uint64_t write_entry(const std::string& path, const DiskCacheKey& key,
                     const std::vector<int32_t>& tokens, const SequenceState& state) {
  const int64_t n = state.n_past();
  if (n <= 0 || static_cast<int64_t>(tokens.size()) != n)
    throw std::runtime_error("write_entry: tokens do not match the state");
  if (key.kv_type != static_cast<uint32_t>(state.kv_type()))
    throw std::logic_error("write_entry: the key's KV type is not the state's");
  std::vector<int64_t> snaps;
  for (const auto& [p, rows] : state.snapshots()) {
    if (p > 0 && p < n) snaps.push_back(p);
  }
  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = key.version;
  h.kv_type = key.kv_type;
  h.model_id[0] = key.model_id[0];
  h.model_id[1] = key.model_id[1];
  h.n_tokens = static_cast<uint64_t>(n);
  h.n_snaps = snaps.size();
  h.n_layer = state.layers().size();
  h.conv_floats = static_cast<uint64_t>(state.conv_floats());
  uint64_t n_conv = 0;
  for (const auto& l : state.layers()) {
    h.kv_floats += static_cast<uint64_t>(l.kv_dim);
    n_conv += l.kv_dim == 0 ? 1 : 0;
  }
  uint64_t kv_token_bytes = 0;
  for (const auto& l : state.layers()) kv_token_bytes += 2 * l.row_bytes;
  h.payload_bytes = h.n_tokens * kv_token_bytes + 4 * (1 + h.n_snaps) * n_conv * h.conv_floats;
  Checksum ls(3);
  ls.update(tokens.data(), 4 * tokens.size());
  ls.update(snaps.data(), 8 * snaps.size());
  h.list_sum = ls.digest();
  h.header_sum = checksum64(&h, offsetof(FileHeader, header_sum), 1);

  const std::string tmp = unique_temp_path(path);
  Fd f;
  f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f.fd < 0) throw std::runtime_error("cannot create " + tmp + ": " + errno_text());
  try {
    write_all(f.fd, &h, sizeof h, nullptr, tmp);
    write_all(f.fd, tokens.data(), 4 * tokens.size(), nullptr, tmp);
    write_all(f.fd, snaps.data(), 8 * snaps.size(), nullptr, tmp);
    Checksum ps(2);
    for (const auto& l : state.layers()) {
      if (l.kv_dim == 0) continue;
      for (const KvBlocks* kv : {&l.k, &l.v}) {
        for_rows(l, *kv, n, false, [&](const uint8_t* p, size_t bytes) {
          write_all(f.fd, p, bytes, &ps, tmp);
          return true;
        });
      }
    }
    for (const auto& l : state.layers()) {
      if (l.kv_dim == 0) write_all(f.fd, l.conv.data(), 4 * l.conv.size(), &ps, tmp);
    }
    for (int64_t p : snaps) {
      const std::vector<float>& rows = state.snapshots().at(p);
      write_all(f.fd, rows.data(), 4 * rows.size(), &ps, tmp);
    }
    const uint64_t d = ps.digest();
    write_all(f.fd, &d, 8, nullptr, tmp);
    if (::fsync(f.fd) != 0) throw std::runtime_error("cannot sync " + tmp + ": " + errno_text());
    ::close(f.fd);
    f.fd = -1;
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw std::runtime_error("cannot rename " + tmp + ": " + errno_text());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  return sizeof h + 4 * h.n_tokens + 8 * h.n_snaps + h.payload_bytes + 8;
}

ReadStatus read_entry_head(const std::string& path, const DiskCacheKey& key, const Hparams& hp,
                           EntryHead* out) {
  Fd f;
  FileHeader h{};
  return open_head(path, key, hp, f, h, out);
}

ReadStatus read_entry(const std::string& path, const DiskCacheKey& key, const Hparams& hp,
                      int64_t n_ctx, int64_t snap_every, std::vector<int32_t>* tokens,
                      std::unique_ptr<SequenceState>* state) {
  state->reset();
  Fd f;
  FileHeader h{};
  EntryHead head;
  if (ReadStatus s = open_head(path, key, hp, f, h, &head); !s.ok) return s;
  const int64_t n = static_cast<int64_t>(h.n_tokens);
  if (n > n_ctx)
    return fail(DiscardReason::Format,
                std::to_string(n) + " tokens do not fit the context of " + std::to_string(n_ctx));
  auto st = std::make_unique<SequenceState>(hp, n_ctx, static_cast<kernels::KvType>(h.kv_type));
  st->set_snapshot_interval(snap_every);
  st->reserve(n);
  Checksum ps(2);
  bool ok = true;
  for (auto& l : st->layers()) {
    if (l.kv_dim == 0) continue;
    for (const KvBlocks* kv : {&l.k, &l.v}) {
      ok = ok && for_rows(l, *kv, n, true, [&](uint8_t* p, size_t bytes) { return read_all(f.fd, p, bytes, &ps); });
    }
  }
  for (auto& l : st->layers()) {
    if (l.kv_dim == 0) ok = ok && read_all(f.fd, l.conv.data(), 4 * l.conv.size(), &ps);
  }
  for (int64_t p : head.snaps) {
    std::vector<float>& rows = st->snapshot_storage(p);
    ok = ok && read_all(f.fd, rows.data(), 4 * rows.size(), &ps);
  }
  uint64_t d = 0;
  if (!ok || !read_all(f.fd, &d, 8, nullptr))
    return fail(DiscardReason::Truncated, "payload ends early");
  if (d != ps.digest()) return fail(DiscardReason::Checksum, "payload checksum mismatch");
  st->set_n_past(n);
  *tokens = std::move(head.tokens);
  *state = std::move(st);
  return {};
}

}  // namespace lfmd
