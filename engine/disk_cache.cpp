#include "engine/disk_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <stdexcept>

#include "engine/prefix_cache.h"

namespace lfmd {
namespace {

constexpr const char* kSuffix = ".lfpc";

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

std::string hex16(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// Conv-state snapshots and index nodes are made on the engine thread and freed here, which
// leaves free pages inside glibc's per-thread arenas (RSS crept ~5 MiB/h in the soak). Handing
// them back costs ~1 ms, so it is done at most every 10 s, when the queue has drained.
void release_free_heap_pages() {
#if defined(__GLIBC__)
  using Clock = std::chrono::steady_clock;
  thread_local Clock::time_point last{};
  const Clock::time_point now = Clock::now();
  if (now - last < std::chrono::seconds(10)) return;
  last = now;
  ::malloc_trim(0);
#endif
}

// One step of the chained prefix hash (splitmix64 finaliser over the previous hash and a token).
uint64_t hash_step(uint64_t h, int32_t token) {
  uint64_t x = h ^ (static_cast<uint64_t>(static_cast<uint32_t>(token)) + 0x9e3779b97f4a7c15ull);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// out[k] = hash of tokens[0, k); out has tokens.size() + 1 values.
std::vector<uint64_t> prefix_hashes(const std::vector<int32_t>& tokens) {
  std::vector<uint64_t> out(tokens.size() + 1);
  for (size_t i = 0; i < tokens.size(); ++i) out[i + 1] = hash_step(out[i], tokens[i]);
  return out;
}

// Restart points of an entry holding `tokens` with snapshots at `snaps`, and their prefix hashes.
void set_points(const std::vector<int32_t>& tokens, const std::vector<int64_t>& snaps,
                std::vector<int64_t>* points, std::vector<uint64_t>* hashes) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (int64_t p : snaps) {
    if (p > 0 && p < n && (points->empty() || p > points->back())) points->push_back(p);
  }
  points->push_back(n);
  hashes->reserve(points->size());
  uint64_t h = 0;
  int64_t k = 0;
  for (int64_t p : *points) {
    for (; k < p; ++k) h = hash_step(h, tokens[static_cast<size_t>(k)]);
    hashes->push_back(h);
  }
}

}  // namespace

std::string default_cache_dir() {
  if (const char* d = std::getenv("LFMD_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/lfmd";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/lfmd";
  return "/tmp/lfmd-cache";
}

bool make_dirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') ::mkdir(dir.substr(0, i).c_str(), 0755);
  }
  struct stat st {};
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && ::access(dir.c_str(), W_OK) == 0;
}

DiskCache::DiskCache(const Hparams& hp, Options opt, Log log, std::function<void()> on_loaded)
    : hp_(hp), opt_(std::move(opt)), log_(std::move(log)), on_loaded_(std::move(on_loaded)) {
  if (!make_dirs(opt_.dir))
    throw std::runtime_error("cannot create or write the cache directory " + opt_.dir);
  stats_.budget = static_cast<int64_t>(opt_.budget_bytes);
  scan();
  io_ = std::thread([this] { io_loop(); });
}

DiskCache::~DiskCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (io_.joinable()) io_.join();
}

// One warning line per discarded entry; the one place a request log can pick these up.
void DiskCache::discard(DiscardReason r, const std::string& file, const std::string& detail,
                        Verb verb) {
  if (verb == Verb::Deleted) ::unlink(path(file).c_str());
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.discarded[static_cast<int>(r)] += 1;
  }
  if (log_) {
    const char* what = verb == Verb::Deleted   ? "deleted "
                       : verb == Verb::Ignored ? "ignoring "
                                               : "not writing ";
    log_(std::string("warning: prefix cache: ") + what + path(file) + " (" +
         discard_reason_name(r) + "): " + detail);
  }
}

void DiskCache::scan() {
  DIR* d = ::opendir(opt_.dir.c_str());
  if (!d) throw std::runtime_error("cannot read the cache directory " + opt_.dir);
  std::vector<std::pair<int64_t, uint64_t>> by_mtime;  // (mtime ns, id)
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    struct stat st {};
    if (::stat(path(name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (name.find(std::string(kSuffix) + ".tmp.") != std::string::npos) {
      if (now - st.st_mtime > 3600) ::unlink(path(name).c_str());  // left by a crash
      continue;
    }
    if (!ends_with(name, kSuffix)) continue;
    EntryHead head;
    const ReadStatus s = read_entry_head(path(name), opt_.key, hp_, &head);
    const bool foreign =
        !s.ok && (s.reason == DiscardReason::Model || s.reason == DiscardReason::KvType ||
                  s.reason == DiscardReason::Version);
    if (!s.ok) discard(s.reason, name, s.detail, foreign ? Verb::Ignored : Verb::Deleted);
    if (!s.ok && !foreign) continue;
    Entry en;
    en.file = name;
    en.bytes = static_cast<uint64_t>(st.st_size);
    en.usable = s.ok;
    if (s.ok) set_points(head.tokens, head.snaps, &en.points, &en.hashes);
    const uint64_t id = next_id_++;
    by_mtime.emplace_back(static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                          id);
    add_entry(id, std::move(en));
  }
  ::closedir(d);
  std::sort(by_mtime.begin(), by_mtime.end());
  for (const auto& [t, id] : by_mtime) index_[id].last_used = ++clock_;
  std::vector<std::string> gone;
  evict_for(0, &gone);  // the budget may have shrunk since the last run
  for (const auto& f : gone) ::unlink(path(f).c_str());
}

DiskCache::Candidate DiskCache::find(const std::vector<int32_t>& prompt, int64_t limit) const {
  const std::vector<uint64_t> ph = prefix_hashes(prompt);
  const int64_t cap = std::min(limit, static_cast<int64_t>(prompt.size()));
  std::lock_guard<std::mutex> lock(mu_);
  Candidate best;
  for (const auto& [id, e] : index_) {
    if (!e.usable || e.points.back() > opt_.n_ctx) continue;
    // The longest restart point <= cap whose prefix hash is the prompt's.
    for (size_t i = e.points.size(); i-- > 0 && e.points[i] > best.n;) {
      const int64_t p = e.points[i];
      if (p <= cap && e.hashes[i] == ph[static_cast<size_t>(p)]) {
        best = {id, p};
        break;
      }
    }
  }
  return best;
}

void DiskCache::load(uint64_t id, uint64_t tag) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    loads_.emplace_back(id, tag);
    stats_.load_requests += 1;
  }
  cv_.notify_all();
}

std::vector<DiskCache::Loaded> DiskCache::take_loaded() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Loaded> out = std::move(loaded_);
  loaded_.clear();
  return out;
}

void DiskCache::store(std::vector<int32_t> tokens, std::unique_ptr<SequenceState> state,
                      bool past_queue_limit) {
  if (!state || tokens.empty()) return;
  const uint64_t b = state->bytes();
  bool dropped = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!past_queue_limit && pending_bytes_ + b > opt_.max_pending_bytes) {
      stats_.dropped_writes += 1;
      dropped = true;
    } else {
      pending_bytes_ += b;
      writes_.push_back(Write{std::move(tokens), std::move(state)});
    }
  }
  if (dropped) {
    if (log_)
      log_("warning: prefix cache: write queue full (" + std::to_string((b + (1 << 20) - 1) >> 20) +
           " MiB state not written; the queue holds " + std::to_string(opt_.max_pending_bytes >> 20) + " MiB)");
    return;
  }
  cv_.notify_all();
}

void DiskCache::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [&] { return writes_.empty() && loads_.empty() && !busy_; });
}

DiskCacheStats DiskCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  DiskCacheStats s = stats_;
  s.pending_bytes = static_cast<int64_t>(pending_bytes_);
  return s;
}

// Loads first (a request waits for them), then writes; at stop, queued writes still finish.
void DiskCache::io_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !loads_.empty() || !writes_.empty(); });
    if (!loads_.empty() && !stop_) {
      const auto [id, tag] = loads_.front();
      loads_.pop_front();
      busy_ = true;
      lock.unlock();
      do_load(id, tag);
      lock.lock();
    } else if (!writes_.empty()) {
      Write w = std::move(writes_.front());
      writes_.pop_front();
      busy_ = true;
      lock.unlock();
      const uint64_t b = w.state->bytes();
      do_write(std::move(w));  // frees the state
      lock.lock();
      pending_bytes_ -= b;
    } else {
      loads_.clear();
      busy_ = false;
      idle_cv_.notify_all();
      return;
    }
    busy_ = false;
    if (loads_.empty() && writes_.empty()) {
      idle_cv_.notify_all();
      lock.unlock();
      release_free_heap_pages();
      lock.lock();
    }
  }
}

void DiskCache::do_load(uint64_t id, uint64_t tag) {
  Loaded out;
  out.tag = tag;
  std::string file;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(id);
    if (it != index_.end()) file = it->second.file;
  }
  if (!file.empty()) {
    if (opt_.test_load_delay_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(opt_.test_load_delay_ms));
    const ReadStatus s =
        read_entry(path(file), opt_.key, hp_, opt_.n_ctx, opt_.snap_every, &out.tokens, &out.state);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = index_.find(id);
      if (it != index_.end() && s.ok) {
        it->second.last_used = ++clock_;
        stats_.loads += 1;
      } else if (it != index_.end()) {
        remove_entry(it);
      }
    }
    if (s.ok) {
      ::utimensat(AT_FDCWD, path(file).c_str(), nullptr, 0);  // mtime = last use
    } else {
      out.state.reset();
      out.tokens.clear();
      discard(s.reason, file, s.detail, Verb::Deleted);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    loaded_.push_back(std::move(out));
  }
  if (on_loaded_) on_loaded_();
}

void DiskCache::evict_for(uint64_t incoming, std::vector<std::string>* unlink_files) {
  while (!index_.empty() && static_cast<uint64_t>(stats_.bytes) + incoming > opt_.budget_bytes) {
    auto lru = index_.begin();
    for (auto it = index_.begin(); it != index_.end(); ++it) {
      if (it->second.last_used < lru->second.last_used) lru = it;
    }
    unlink_files->push_back(lru->second.file);
    stats_.evictions += 1;
    remove_entry(lru);
  }
}

void DiskCache::do_write(Write w) {
  const SequenceState& st = *w.state;
  uint64_t n_snaps = 0;
  for (const auto& [p, rows] : st.snapshots()) n_snaps += (p > 0 && p < st.n_past()) ? 1 : 0;
  const uint64_t bytes = entry_file_bytes(hp_, static_cast<uint64_t>(st.n_past()), n_snaps, st.kv_type());
  const uint64_t h = checksum64(w.tokens.data(), 4 * w.tokens.size(), opt_.key.model_id[0]);
  const std::string file = hex16(opt_.key.model_id[0]) + "-" + hex16(h) + kSuffix;
  if (bytes > opt_.budget_bytes) {
    discard(DiscardReason::TooLarge, file,
            "entry of " + std::to_string(bytes) + " bytes exceeds the disk budget of " +
                std::to_string(opt_.budget_bytes) + " bytes",
            Verb::NotWritten);
    return;
  }
  std::vector<std::string> gone;
  bool touch = false;
  const std::vector<uint64_t> wh = prefix_hashes(w.tokens);
  const int64_t wn = static_cast<int64_t>(w.tokens.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = index_.begin(); it != index_.end();) {
      Entry& e = it->second;
      const int64_t len = e.usable ? e.points.back() : -1;
      if (e.file == file && len == wn && e.hashes.back() == wh.back()) {
        e.last_used = ++clock_;  // already on disk
        touch = true;
        break;
      }
      // Same name (another state) or a prefix of the new entry: the new one replaces it.
      if (e.file == file || (len >= 0 && len <= wn && e.hashes.back() == wh[static_cast<size_t>(len)])) {
        if (e.file != file) gone.push_back(e.file);
        stats_.evictions += 1;
        it = remove_entry(it);
      } else {
        ++it;
      }
    }
    if (!touch) evict_for(bytes, &gone);
  }
  for (const auto& f : gone) ::unlink(path(f).c_str());
  if (touch) {
    ::utimensat(AT_FDCWD, path(file).c_str(), nullptr, 0);  // mtime = last use
    return;
  }
  try {
    write_entry(path(file), opt_.key, w.tokens, st);
  } catch (const std::exception& e) {
    discard(DiscardReason::Io, file, e.what(), Verb::NotWritten);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  Entry en;
  en.file = file;
  en.bytes = bytes;
  en.usable = true;
  en.last_used = ++clock_;
  std::vector<int64_t> snaps;
  for (const auto& [p, rows] : st.snapshots()) snaps.push_back(p);
  set_points(w.tokens, snaps, &en.points, &en.hashes);
  add_entry(next_id_++, std::move(en));
  stats_.writes += 1;
}

// Approximate heap bytes of an index entry (map node, file name, points and hashes).
static int64_t entry_heap_bytes(const std::string& file, size_t n_points) {
  return static_cast<int64_t>(96 + file.capacity() + 16 * n_points);
}

void DiskCache::add_entry(uint64_t id, Entry en) {
  stats_.bytes += static_cast<int64_t>(en.bytes);
  stats_.entries += en.usable ? 1 : 0;
  stats_.index_bytes += entry_heap_bytes(en.file, en.points.size());
  index_.emplace(id, std::move(en));
}

std::map<uint64_t, DiskCache::Entry>::iterator DiskCache::remove_entry(
    std::map<uint64_t, Entry>::iterator it) {
  const Entry& e = it->second;
  stats_.bytes -= static_cast<int64_t>(e.bytes);
  stats_.entries -= e.usable ? 1 : 0;
  stats_.index_bytes -= entry_heap_bytes(e.file, e.points.size());
  return index_.erase(it);
}

}  // namespace lfmd
