#include "server/hub/hub.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "engine/temp_path.h"
#include "server/http.h"
#include "server/hub/sha256.h"

namespace lfmd::hub {

using json = nlohmann::json;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

void mkdirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      const std::string p = dir.substr(0, i);
      if (::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) {
        throw std::runtime_error("cannot create " + p + ": " + std::strerror(errno));
      }
    }
  }
}

int64_t file_size(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

void write_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = unique_temp_path(path);
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    o << text;
    if (!o) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot write " + path);
}

struct RemoteFile {
  std::string path;  // in the repository
  uint64_t size = 0;
  std::string sha256;  // LFS oid ("" for a file outside LFS)
};

// A GGUF (one file, or the parts of a split one) of one quantization.
struct Choice {
  std::string quant;
  std::vector<RemoteFile> parts;  // in part order
};

const std::regex& split_re() {
  static const std::regex re("-([0-9]{5})-of-([0-9]{5})\\.gguf$", std::regex::icase);
  return re;
}

// Groups the repository's GGUFs by quantization (mmproj files are not models). Parts of a split
// file share a stem (the name without -0000k-of-0000n); when one quantization has several stems
// (e.g. "X-Q4_K_M.gguf" and "X-Q4_K_M-hip-optimized.gguf"), the plain one wins: the stem that
// ends with the label, else the shortest.
std::map<std::string, Choice> ggufs_by_quant(const std::vector<RemoteFile>& files) {
  std::map<std::string, std::map<std::string, std::vector<RemoteFile>>> stems;  // quant -> stem
  for (const auto& f : files) {
    std::string lower = f.path;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower.size() < 5 || lower.compare(lower.size() - 5, 5, ".gguf") != 0) continue;
    if (lower.find("mmproj") != std::string::npos) continue;
    const std::string q = quant_of(f.path.substr(f.path.find_last_of('/') + 1));
    if (q.empty()) continue;
    std::smatch m;
    const std::string stem = std::regex_search(lower, m, split_re())
                                 ? lower.substr(0, static_cast<size_t>(m.position(0)))
                                 : lower.substr(0, lower.size() - 5);
    stems[q][stem].push_back(f);
  }
  std::map<std::string, Choice> out;
  for (auto& [q, by_stem] : stems) {
    std::string ql = q;
    std::transform(ql.begin(), ql.end(), ql.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    const std::vector<RemoteFile>* best = nullptr;
    size_t best_len = 0;
    bool best_plain = false;
    for (const auto& [stem, parts] : by_stem) {
      const bool plain =
          stem.size() >= ql.size() && stem.compare(stem.size() - ql.size(), ql.size(), ql) == 0;
      if (!best || (plain && !best_plain) || (plain == best_plain && stem.size() < best_len)) {
        best = &parts;
        best_len = stem.size();
        best_plain = plain;
      }
    }
    Choice c{q, *best};
    std::sort(c.parts.begin(), c.parts.end(), [](auto& a, auto& b) { return a.path < b.path; });
    out[q] = c;
  }
  return out;
}

std::string list_quants(const std::map<std::string, Choice>& m) {
  std::string s;
  for (const auto& [q, c] : m) s += (s.empty() ? "" : ", ") + q;
  return s.empty() ? "none" : s;
}

// The requested quantization, or for the default the closest available one.
Choice choose(const ModelRef& ref, const std::map<std::string, Choice>& m) {
  if (!ref.quant.empty()) {
    auto it = m.find(ref.quant);
    if (it == m.end())
      throw std::runtime_error(ref.repo + " has no " + ref.quant +
                               " GGUF (available: " + list_quants(m) + ")");
    return it->second;
  }
  static const char* kOrder[] = {"Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0",   "Q5_K_S", "Q6_K", "Q8_0",
                                 "Q3_K_L", "Q3_K_M", "IQ4_XS", "IQ4_NL", "BF16",   "F16",  "F32"};
  for (const char* q : kOrder) {
    if (auto it = m.find(q); it != m.end()) return it->second;
  }
  if (!m.empty()) return m.begin()->second;
  throw std::runtime_error(ref.repo + " has no GGUF files");
}

std::string repo_dir(const HubConfig& cfg, const std::string& repo) {
  std::string r = repo;
  std::replace(r.begin(), r.end(), '/', '-');
  const size_t slash = repo.find('/');
  return cfg.cache_dir + "/models--" + repo.substr(0, slash) + "--" + repo.substr(slash + 1);
}

std::vector<std::pair<std::string, std::string>> auth(const HubConfig& cfg) {
  if (cfg.token.empty()) return {};
  return {{"Authorization", "Bearer " + cfg.token}};
}

std::string access_error(const HubConfig& cfg, const std::string& repo, int status) {
  if (status == 401 || status == 403) {
    return cfg.token.empty()
               ? repo + " is gated or private: accept its terms on the Hub and set HF_TOKEN"
               : repo + " refused the token in HF_TOKEN (HTTP " + std::to_string(status) +
                     "; accepted the terms?)";
  }
  if (status == 404) return repo + " was not found on " + cfg.endpoint;
  return repo + ": HTTP " + std::to_string(status) + " from " + cfg.endpoint;
}

json get_json(const HubConfig& cfg, const std::string& repo, const std::string& url) {
  http::GetOptions o;
  o.headers = auth(cfg);
  o.allow_http = cfg.endpoint.rfind("http://", 0) == 0;
  std::string body;
  http::GetResult r = http::get(url, o, [&](const char* d, size_t n) {
    body.append(d, n);
    return body.size() < (64u << 20);
  });
  if (!r.error.empty()) throw std::runtime_error("cannot reach " + cfg.endpoint + ": " + r.error);
  if (r.status != 200) throw std::runtime_error(access_error(cfg, repo, r.status));
  try {
    return json::parse(body);
  } catch (const json::exception&) {
    throw std::runtime_error(url + ": not a JSON answer");
  }
}

// The commit "main" points at, and the repository's files with their sizes and LFS hashes.
std::pair<std::string, std::vector<RemoteFile>> list_files(const HubConfig& cfg,
                                                           const std::string& repo) {
  const json info = get_json(cfg, repo, cfg.endpoint + "/api/models/" + repo + "/revision/main");
  const std::string commit = info.value("sha", std::string());
  if (commit.size() < 7 || commit.find_first_not_of("0123456789abcdef") != std::string::npos) {
    throw std::runtime_error(repo + ": the Hub did not say which commit main is");
  }
  const json tree = get_json(
      cfg, repo, cfg.endpoint + "/api/models/" + repo + "/tree/" + commit + "?recursive=true");
  std::vector<RemoteFile> files;
  for (const auto& e : tree) {
    if (e.value("type", std::string()) != "file") continue;
    RemoteFile f;
    f.path = e.value("path", std::string());
    f.size = e.value("size", uint64_t{0});
    if (e.contains("lfs") && e["lfs"].is_object()) {
      f.sha256 = e["lfs"].value("oid", std::string());
      f.size = e["lfs"].value("size", f.size);
    }
    if (f.path.empty() || f.path.find("..") != std::string::npos || f.path[0] == '/') continue;
    files.push_back(f);
  }
  return {commit, files};
}

// One download attempt into `part` from its current size; returns "" when the body ended.
std::string fetch_range(const HubConfig& cfg, const std::string& url, const std::string& part,
                        const RemoteFile& f, const Progress& progress, int* status) {
  const int64_t have = std::max<int64_t>(0, file_size(part));
  http::GetOptions o;
  o.headers = auth(cfg);
  o.allow_http = cfg.endpoint.rfind("http://", 0) == 0;
  if (have > 0) o.headers.push_back({"Range", "bytes=" + std::to_string(have) + "-"});
  std::FILE* out = nullptr;
  uint64_t done = static_cast<uint64_t>(have);
  bool first = true;
  std::string fail;
  http::GetResult r = http::get(url, o, [&](const char* d, size_t n) {
    if (first) {  // the status is known once the body starts
      first = false;
      out = std::fopen(part.c_str(), have > 0 ? "ab" : "wb");
      if (!out) {
        fail = "cannot write " + part + ": " + std::strerror(errno);
        return false;
      }
    }
    if (std::fwrite(d, 1, n, out) != n) {
      fail = "write failed on " + part;
      return false;
    }
    done += n;
    if (done > f.size) {
      fail = f.path + ": the server sent more than the " + std::to_string(f.size) +
             " bytes the Hub announced";
      return false;
    }
    if (progress) progress(f.path, done, f.size);
    return true;
  });
  if (out && std::fclose(out) != 0 && fail.empty()) fail = "write failed on " + part;
  *status = r.status;
  if (!fail.empty()) throw std::runtime_error(fail);
  if (r.error.empty() && have > 0 && r.status == 200) {
    // The server ignored the Range: the bytes appended after `have` were the file's start.
    if (::truncate(part.c_str(), 0) != 0) throw std::runtime_error("cannot truncate " + part);
    return "server ignored the range request";
  }
  return r.error;
}

// An exclusive lock on blobs/<sha256>.lock, so that two processes pulling one file do not both
// append to its .incomplete: the second waits, then finds the blob whole. The holder removes the
// lock file; a waiter whose locked file was removed meanwhile (another inode now, or none) retries.
class BlobLock {
 public:
  BlobLock(const std::string& blob, const std::string& name,
           const std::function<void(const std::string&)>& warn)
      : path_(blob + ".lock") {
    for (bool told = false;;) {
      fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd_ < 0) throw std::runtime_error("cannot create " + path_ + ": " + std::strerror(errno));
      if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK)
          throw std::runtime_error("cannot lock " + path_ + ": " + std::strerror(errno));
        if (!told && warn)
          warn("another process is downloading " + name + "; waiting for it (" + path_ + ")");
        told = true;
        while (::flock(fd_, LOCK_EX) != 0) {
          if (errno != EINTR)
            throw std::runtime_error("cannot lock " + path_ + ": " + std::strerror(errno));
        }
      }
      struct stat held {};
      struct stat named {};
      if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &named) == 0 &&
          held.st_ino == named.st_ino && held.st_dev == named.st_dev)
        return;
      ::close(fd_);  // the file we locked was removed by its holder: lock the current one
    }
  }
  ~BlobLock() {
    ::unlink(path_.c_str());  // while still holding it (see the class comment)
    ::close(fd_);
  }
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  std::string path_;
  int fd_ = -1;
};

// Downloads one file into blobs/<sha256> (via .incomplete), verified by size and SHA-256.
void download(const HubConfig& cfg, const std::string& repo, const std::string& commit,
              const RemoteFile& f, const std::string& blob, const Progress& progress) {
  const std::string part = blob + ".incomplete";
  const std::string url = cfg.endpoint + "/" + repo + "/resolve/" + commit + "/" + f.path;
  std::string last;
  for (int attempt = 0; attempt <= cfg.retries; ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(
          std::chrono::milliseconds(cfg.backoff_ms << std::min(attempt - 1, 6)));
    if (file_size(part) == static_cast<int64_t>(f.size)) break;
    int status = 0;
    last = fetch_range(cfg, url, part, f, progress, &status);
    // Not worth retrying: the same refusal would come again.
    if (last.rfind("refusing", 0) == 0 || last.rfind("TLS certificate", 0) == 0) {
      throw std::runtime_error(f.path + ": " + last);
    }
    if (status == 401 || status == 403 || status == 404)
      throw std::runtime_error(access_error(cfg, repo, status));
    if (status == 416 && file_size(part) > static_cast<int64_t>(f.size))
      ::truncate(part.c_str(), 0);
    if (last.empty() && status >= 400) last = "HTTP " + std::to_string(status);
    if (last.empty() && file_size(part) == static_cast<int64_t>(f.size)) break;
    if (last.empty())
      last = "connection closed after " + std::to_string(file_size(part)) + " of " +
             std::to_string(f.size) + " bytes";
  }
  const int64_t got = file_size(part);
  if (got != static_cast<int64_t>(f.size)) {
    throw std::runtime_error(f.path + ": download failed after " + std::to_string(cfg.retries + 1) +
                             " attempts (" + last + "); run the command again to resume");
  }
  if (!f.sha256.empty()) {
    const std::string sum = sha256_file(part);
    if (sum != f.sha256) {
      std::remove(part.c_str());
      throw std::runtime_error(f.path + ": SHA-256 " + sum + " does not match the Hub's " +
                               f.sha256 + " (download discarded)");
    }
  }
  if (std::rename(part.c_str(), blob.c_str()) != 0)
    throw std::runtime_error("cannot rename " + part + ": " + std::strerror(errno));
}

// snapshots/<commit>/<path> -> ../../blobs/<name> (one more ../ per directory level in path).
void link_snapshot(const std::string& dir, const std::string& commit, const std::string& path,
                   const std::string& blob_name) {
  const std::string link = dir + "/snapshots/" + commit + "/" + path;
  mkdirs(link.substr(0, link.find_last_of('/')));
  std::string target = "../../";
  for (char c : path) {
    if (c == '/') target += "../";
  }
  target += "blobs/" + blob_name;
  ::unlink(link.c_str());
  if (::symlink(target.c_str(), link.c_str()) != 0)
    throw std::runtime_error("cannot create " + link + ": " + std::strerror(errno));
}

// Offline: the GGUF from the cache, through refs/main and its snapshot.
std::string pull_offline(const ModelRef& ref, const HubConfig& cfg) {
  const std::string dir = repo_dir(cfg, ref.repo);
  std::ifstream in(dir + "/refs/main");
  std::string commit;
  if (!(in >> commit))
    throw std::runtime_error(ref.repo + " is not in the cache " + cfg.cache_dir +
                             " (offline: HF_HUB_OFFLINE=1)");
  std::vector<RemoteFile> files;
  const std::string snap = dir + "/snapshots/" + commit;
  std::function<void(const std::string&)> walk = [&](const std::string& rel) {
    const std::string full = snap + (rel.empty() ? "" : "/" + rel);
    if (DIR* d = ::opendir(full.c_str())) {
      while (dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        const std::string r = rel.empty() ? n : rel + "/" + n;
        struct stat st {};
        if (::stat((snap + "/" + r).c_str(), &st) != 0) continue;  // dangling link: not usable
        if (S_ISDIR(st.st_mode))
          walk(r);
        else
          files.push_back({r, static_cast<uint64_t>(st.st_size), ""});
      }
      ::closedir(d);
    }
  };
  walk("");
  const auto by_quant = ggufs_by_quant(files);
  Choice c;
  try {
    c = choose(ref, by_quant);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) + " in the cache (offline: HF_HUB_OFFLINE=1)");
  }
  std::smatch m;
  const std::string first = c.parts.front().path;
  if (std::regex_search(first, m, split_re()) &&
      static_cast<size_t>(std::stoi(m[2].str())) != c.parts.size()) {
    throw std::runtime_error(ref.repo + ": only " + std::to_string(c.parts.size()) + " of " +
                             m[2].str() + " parts of " + c.quant + " are cached (offline)");
  }
  return snap + "/" + first;
}

}  // namespace

HubConfig HubConfig::from_env() {
  HubConfig c;
  if (std::string e = env("HF_ENDPOINT"); !e.empty()) {
    while (!e.empty() && e.back() == '/') e.pop_back();
    c.endpoint = e;
  }
  c.token = env("HF_TOKEN");
  if (std::string h = env("HF_HUB_CACHE"); !h.empty())
    c.cache_dir = h;
  else if (std::string h2 = env("HF_HOME"); !h2.empty())
    c.cache_dir = h2 + "/hub";
  else if (std::string x = env("XDG_CACHE_HOME"); !x.empty())
    c.cache_dir = x + "/huggingface/hub";
  else
    c.cache_dir = env("HOME") + "/.cache/huggingface/hub";
  const std::string off = env("HF_HUB_OFFLINE");
  c.offline =
      off == "1" || off == "true" || off == "TRUE" || off == "yes" || off == "ON" || off == "on";
  if (std::string b = env("LFMD_HUB_BACKOFF_MS"); !b.empty())
    c.backoff_ms = std::max(0, std::atoi(b.c_str()));
  return c;
}

bool parse_model_ref(const std::string& s, ModelRef* out) {
  static const std::regex re(
      "^([A-Za-z0-9][A-Za-z0-9._-]*)/([A-Za-z0-9][A-Za-z0-9._-]*)(?::([A-Za-z0-9_]+))?$");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return false;
  out->repo = m[1].str() + "/" + m[2].str();
  out->quant = m[3].str();
  std::transform(out->quant.begin(), out->quant.end(), out->quant.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  return true;
}

std::string quant_of(const std::string& filename) {
  static const std::regex re(
      "(?:^|[-_.])(IQ[1-4]_(?:XXS|XS|S|M|NL)|Q[2-8]_K(?:_[SML])?|Q[4-8]_[01]|BF16|F16|F32|MXFP4)(?="
      "[-_.]|$)",
      std::regex::icase);
  std::smatch m;
  if (!std::regex_search(filename, m, re)) return "";
  std::string q = m[1].str();
  std::transform(q.begin(), q.end(), q.begin(), [](unsigned char c) { return std::toupper(c); });
  return q;
}

std::string pull(const ModelRef& ref, const HubConfig& cfg, const Progress& progress,
                 const std::function<void(const std::string&)>& warn) {
  if (cfg.endpoint.rfind("https://", 0) != 0 && cfg.endpoint.rfind("http://", 0) != 0) {
    throw std::runtime_error(
        "HF_ENDPOINT must start with https:// (or http:// for a local mirror)");
  }
  if (cfg.offline) return pull_offline(ref, cfg);
  std::string commit;
  std::vector<RemoteFile> files;
  try {
    std::tie(commit, files) = list_files(cfg, ref.repo);
  } catch (const std::runtime_error& e) {
    // Hub unreachable (not an HTTP answer): a cached copy still serves, as with HF_HUB_OFFLINE.
    if (std::string(e.what()).rfind("cannot reach", 0) != 0) throw;
    std::string path;
    try {
      path = pull_offline(ref, cfg);
    } catch (const std::exception&) {
      throw e;
    }
    if (warn) warn(std::string(e.what()) + "; using the cached copy");
    return path;
  }
  const Choice c = choose(ref, ggufs_by_quant(files));
  const std::string dir = repo_dir(cfg, ref.repo);
  mkdirs(dir + "/blobs");
  mkdirs(dir + "/refs");
  for (const RemoteFile& f : c.parts) {
    if (f.sha256.size() != 64)
      throw std::runtime_error(f.path + ": the Hub gave no SHA-256 (LFS oid) to verify it with");
    const std::string blob = dir + "/blobs/" + f.sha256;
    const auto whole = [&] { return file_size(blob) == static_cast<int64_t>(f.size); };
    bool fetched = false;
    if (!whole()) {
      BlobLock lock(blob, f.path, warn);
      if (!whole()) {  // else another process finished it while this one waited
        download(cfg, ref.repo, commit, f, blob, progress);
        fetched = true;
      }
    }
    if (!fetched && progress) progress(f.path, f.size, f.size);
    link_snapshot(dir, commit, f.path, f.sha256);
  }
  write_atomic(dir + "/refs/main", commit);
  return dir + "/snapshots/" + commit + "/" + c.parts.front().path;
}

}  // namespace lfmd::hub
