// The one file that includes httplib (Debian's libcpp-httplib, a compiled library).
#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <strings.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "base/blocking_queue.h"
#include "server/connection_pool.h"
#include "server/http.h"
#include "server/socket_io.h"

namespace lfmd::http {

std::string Request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

class SinkWriter final : public StreamWriter {
 public:
  explicit SinkWriter(httplib::DataSink& sink) : sink_(sink) {}
  bool write(std::string_view bytes) override {
    if (failed_) return false;
    if (!sink_.is_writable() || !sink_.write(bytes.data(), bytes.size())) failed_ = true;
    return !failed_;
  }

 private:
  httplib::DataSink& sink_;
  bool failed_ = false;
};

// The record of the request this worker thread is serving: made when the request is first seen
// (pre-routing, or an error before it), dropped by the access log after the response is written.
// httplib serves a request, stream body included, on one thread from start to logger.
thread_local std::shared_ptr<RequestRecord> t_record;
std::atomic<uint64_t> g_next_record_id{1};
bool g_record_text = false;

std::shared_ptr<RequestRecord> current_record(bool fresh) {
  if (fresh || !t_record) {
    t_record = std::make_shared<RequestRecord>();
    t_record->id = g_next_record_id.fetch_add(1);
    t_record->keep_text = g_record_text;
  }
  return t_record;
}

// with_body = false: for the access log (no body copy, no record: the caller has it).
Request convert(const httplib::Request& r, bool with_body = true) {
  Request out;
  if (with_body) out.record = current_record(false);
  out.method = r.method;
  out.path = r.path;
  if (with_body) out.body = r.body;
  out.remote_addr = r.remote_addr;
  out.remote_port = r.remote_port;
  for (const auto& [k, v] : r.headers) out.headers.emplace(lower(k), v);
  for (size_t i = 1; i < r.matches.size(); ++i) out.path_params.push_back(r.matches[i].str());
  return out;
}

Request convert_with(const httplib::Request& r, std::shared_ptr<RequestRecord> rec) {
  Request out = convert(r, false);
  out.record = std::move(rec);
  return out;
}

void apply(const Response& in, httplib::Response& res) {
  res.status = in.status;
  for (const auto& [k, v] : in.headers) res.set_header(k, v);
  if (in.stream) {
    auto stream = in.stream;
    res.set_chunked_content_provider(in.content_type, [stream](size_t, httplib::DataSink& sink) {
      SinkWriter w(sink);
      try {
        stream(w);
      } catch (const std::exception&) {
        // Never let a streaming body take the process down: report in-band, then close.
        w.write(std::string("data: {\"error\":{\"message\":\"internal error while streaming\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n"));
      } catch (...) {
      }
      sink.done();
      return true;
    });
  } else {
    res.set_content(in.body, in.content_type);
  }
}

Response internal_error(const std::string& what) {
  Response r;
  r.status = 500;
  nlohmann::ordered_json body = {{"error", {{"message", "internal error: " + what}, {"type", "server_error"}, {"param", nullptr}, {"code", nullptr}}}};
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // escaped, valid UTF-8
  return r;
}

// ---- Connections: a growing thread pool, request deadlines, an early overload answer ----

// The socket of the connection this thread serves (-1 outside one); lets a handler's AliveCheck
// peek at its own socket without a search.
thread_local int tls_connection_socket = -1;
// Set while the listener thread runs a connection it has no thread for: answer 503 and close.
thread_local bool tls_overloaded = false;
// Set when the request being read on this thread missed its deadline: the error handler turns
// httplib's 400 for the cut-off body into a 408.
thread_local bool tls_deadline_hit = false;

// A minimal raw response for cases where no request could be read (no routing, no filter).
std::string raw_error_response(int status, const char* reason, const char* code, const char* message,
                               const char* extra_headers) {
  nlohmann::ordered_json body = {{"error", {{"message", message}, {"type", "server_error"}, {"param", nullptr}, {"code", code}}}};
  const std::string b = body.dump();
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: application/json\r\n" +
         extra_headers + "Connection: close\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
}

// httplib's Stream over one request: reads must all arrive before a fixed deadline (headers and
// body together: a slow sender cannot hold the connection), each read and write also bounded by
// the idle timeouts. A missed deadline sets tls_deadline_hit; the error handler then answers 408.
class DeadlineStream final : public httplib::Stream {
 public:
  using Clock = std::chrono::steady_clock;
  DeadlineStream(int fd, Clock::time_point deadline, int read_timeout_ms, int write_timeout_ms)
      : fd_(fd), deadline_(deadline), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

  bool is_readable() const override { return pos_ < len_ || sock::wait_readable(fd_, wait_ms()) == 1; }
  bool is_writable() const override { return sock::wait_writable(fd_, write_timeout_ms_) == 1; }
  ssize_t read(char* ptr, size_t size) override {
    if (pos_ == len_) {
      const int w = sock::wait_readable(fd_, wait_ms());
      if (w != 1) {
        if (w == 0 && Clock::now() >= deadline_) {
          deadline_hit_ = true;
          tls_deadline_hit = true;
        }
        return -1;
      }
      ssize_t n;
      do n = ::recv(fd_, buf_, sizeof buf_, 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      pos_ = 0;
      len_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, len_ - pos_);
    std::memcpy(ptr, buf_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
    if (n > 0) wrote_ = true;
    return n;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { sock::endpoint(fd_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { sock::endpoint(fd_, false, ip, port); }
  socket_t socket() const override { return fd_; }

  bool deadline_hit() const { return deadline_hit_; }
  bool wrote() const { return wrote_; }

 private:
  int wait_ms() const {  // rounded up: a wait that times out has reached the deadline
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, read_timeout_ms_));
  }
  const int fd_;
  const Clock::time_point deadline_;
  const int read_timeout_ms_, write_timeout_ms_;
  char buf_[4096];
  size_t pos_ = 0, len_ = 0;
  bool deadline_hit_ = false, wrote_ = false;
};

// Connection counters shared by the server and its task queue (which httplib owns and deletes).
struct ConnectionCounters {
  std::atomic<long long> timed_out{0};   // 408 answers
  std::atomic<long long> overloaded{0};  // 503 answers at the connection cap
  std::atomic<const ConnectionPool*> pool{nullptr};
};

class GuardedServer final : public httplib::Server {
 public:
  GuardedServer(const ServerOptions& opt, ConnectionCounters& counters) : opt_(opt), counters_(counters) {}
  // httplib listens with a backlog of 5; a burst of connections would wait for SYN retries.
  void widen_backlog() { ::listen(svr_sock_, SOMAXCONN); }

 private:
  bool process_and_close_socket(socket_t fd) override {
    if (tls_overloaded) {
      counters_.overloaded++;
      sock::send_all(fd, raw_error_response(503, "Service Unavailable", "server_overloaded",
                                            "the server is at its connection limit (--max-connections); retry shortly",
                                            "Retry-After: 1\r\n"), 1000);
    } else {
      tls_connection_socket = fd;
      serve_connection(fd);
      tls_connection_socket = -1;
    }
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    return true;
  }

  // One request after another on a keep-alive connection, each read within its deadline.
  void serve_connection(int fd) {
    for (int left = std::max(1, opt_.keep_alive_max_requests);; ) {
      if (!wait_for_request(fd)) return;
      DeadlineStream strm(fd, DeadlineStream::Clock::now() + std::chrono::seconds(opt_.request_timeout_s),
                          opt_.read_timeout_s * 1000, opt_.write_timeout_s * 1000);
      const bool close_after = --left == 0 || stopping();
      bool closed = false;
      const bool ok = process_request(strm, close_after, closed, nullptr);
      tls_deadline_hit = false;
    if (strm.deadline_hit()) {
        counters_.timed_out++;
        if (!strm.wrote())
          sock::send_all(fd, raw_error_response(408, "Request Timeout", "request_timeout",
                                                "the request was not received within --request-timeout seconds", ""),
                         1000);
        return;
      }
      if (!ok || close_after || closed) return;
    }
  }

  // stop() closes the listening socket at once; is_running() stays true until every connection
  // thread has returned, so idle keep-alive connections watch the socket instead.
  bool stopping() const { return svr_sock_ == INVALID_SOCKET; }

  // Waits (in slices, to notice a stop) for the first byte of the next request; false when the
  // keep-alive timeout passes, the peer closes, or the server stops.
  bool wait_for_request(int fd) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(opt_.keep_alive_timeout_s);
    while (!stopping()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
      if (left <= 0) return false;
      const int r = sock::wait_readable(fd, static_cast<int>(std::min<long long>(left, 250)));
      if (r != 0) return r == 1;
    }
    return false;
  }

  const ServerOptions opt_;
  ConnectionCounters& counters_;
};

// httplib's task queue: a thread per connection from the growing pool; at the cap, the listener
// thread itself answers 503 (tls_overloaded) and closes, so no client waits unanswered.
class GrowingTaskQueue final : public httplib::TaskQueue {
 public:
  GrowingTaskQueue(const ServerOptions& opt, ConnectionCounters& counters)
      : pool_(opt.threads, opt.max_connections), counters_(counters) {
    counters_.pool = &pool_;
  }
  ~GrowingTaskQueue() override { counters_.pool = nullptr; }
  void enqueue(std::function<void()> fn) override {
    if (pool_.try_run(fn)) return;
    tls_overloaded = true;
    fn();
    tls_overloaded = false;
  }
  void shutdown() override {
    counters_.pool = nullptr;
    pool_.shutdown();
  }

 private:
  ConnectionPool pool_;
  ConnectionCounters& counters_;
};

}  // namespace

struct Server::Impl {
  explicit Impl(const ServerOptions& o) : opt(o), srv(opt, counters) {}
  ServerOptions opt;
  ConnectionCounters counters;
  GuardedServer srv;
  Filter filter;
  std::function<Response(int, const Request&)> on_error;
  AccessLog access_log;
};

Server::Server(ServerOptions opt) : impl_(nullptr) {
  // One descriptor per connection, plus model files, upstream calls and the cache's files.
  const long open_files = sock::raise_open_files_limit();
  if (open_files > 0) opt.max_connections = static_cast<int>(std::min<long>(opt.max_connections, open_files - 64));
  opt.max_connections = std::max({opt.max_connections, opt.threads, 2});
  impl_ = std::make_unique<Impl>(opt);
  g_record_text = opt.record_text;
  auto& s = impl_->srv;
  s.new_task_queue = [impl = impl_.get()] { return new GrowingTaskQueue(impl->opt, impl->counters); };
  s.set_payload_max_length(opt.max_body_bytes);
  s.set_read_timeout(opt.read_timeout_s, 0);
  s.set_write_timeout(opt.write_timeout_s, 0);
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (tls_deadline_hit) res.status = 408;  // httplib says 400 for a body cut off by the deadline
    if (!impl_->on_error || !res.body.empty()) return;
    apply(impl_->on_error(res.status, convert(req)), res);
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    apply(internal_error(what), res);
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    std::shared_ptr<RequestRecord> rec = current_record(false);
    t_record.reset();
    try {
      if (impl_->access_log) impl_->access_log(convert_with(req, rec), res.status, *rec);
    } catch (...) {
      // A log line that cannot be written never takes the server down.
    }
  });
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    current_record(true);
    if (!impl_->filter) return httplib::Server::HandlerResponse::Unhandled;
    std::optional<Response> r = impl_->filter(convert(req));
    if (!r) return httplib::Server::HandlerResponse::Unhandled;
    apply(*r, res);
    return httplib::Server::HandlerResponse::Handled;
  });
}

Server::~Server() { stop(); }

void Server::route(const std::string& method, const std::string& pattern, Handler h) {
  std::string re = std::regex_replace(pattern, std::regex(R"(\{[a-z_]+\})"), "([^/]+)");
  auto wrapped = [h, max_body = impl_->opt.max_body_bytes, on_error = impl_->on_error](const httplib::Request& req,
                                                                                      httplib::Response& res) {
    Request r = convert(req);
    if (r.body.size() > max_body) {
      // httplib bounds bodies sent with Content-Length, not chunked ones: check here too.
      Response too_big = on_error ? on_error(413, r) : Response{};
      if (!on_error) too_big.status = 413;
      apply(too_big, res);
      return;
    }
    // Looked up lazily (most requests never ask); shared so that a streaming body produced
    // after the handler returns can keep asking. The fd lives as long as the connection.
    auto fd = std::make_shared<int>(tls_connection_socket >= 0 ? tls_connection_socket : -2);
    AliveCheck alive = [fd, addr = r.remote_addr, port = r.remote_port] {
      if (*fd == -2) *fd = sock::find_peer(addr, port);
      return sock::peer_alive(*fd);
    };
    Response out;
    try {
      out = h(r, alive);
    } catch (const std::exception& e) {
      out = internal_error(e.what());
    }
    apply(out, res);
  };
  if (method == "GET") impl_->srv.Get(re, wrapped);
  else if (method == "POST") impl_->srv.Post(re, wrapped);
  else if (method == "DELETE") impl_->srv.Delete(re, wrapped);
  else if (method == "OPTIONS") impl_->srv.Options(re, wrapped);
}

void Server::set_access_log(AccessLog log) { impl_->access_log = std::move(log); }
void Server::set_filter(Filter f) { impl_->filter = std::move(f); }
void Server::set_error_handler(std::function<Response(int, const Request&)> h) { impl_->on_error = std::move(h); }

int Server::bind(std::string* error) {
  auto& s = impl_->srv;
  int port = impl_->opt.port;
  bool ok;
  if (port == 0) {
    port = s.bind_to_any_port(impl_->opt.host);
    ok = port > 0;
  } else {
    ok = s.bind_to_port(impl_->opt.host, port);
  }
  if (!ok) {
    if (error) *error = "cannot listen on " + impl_->opt.host + ":" + std::to_string(impl_->opt.port) + " (" + std::strerror(errno) + ")";
    return -1;
  }
  s.widen_backlog();
  return port;
}

ConnectionStats Server::connection_stats() const {
  ConnectionStats c;
  c.max_connections = impl_->opt.max_connections;
  c.timed_out = impl_->counters.timed_out.load();
  c.overloaded = impl_->counters.overloaded.load();
  // The pool lives inside httplib's listen loop; read it only while the loop runs.
  if (const ConnectionPool* p = impl_->counters.pool.load()) {
    const ConnectionPool::Counts n = p->counts();
    c.threads = n.threads;
    c.open = n.busy;
  }
  return c;
}

void Server::run() { impl_->srv.listen_after_bind(); }
void Server::stop() {
  if (impl_ && impl_->srv.is_running()) impl_->srv.stop();
}

}  // namespace lfmd::http

// ---- UpstreamCall ----

namespace lfmd::http {

namespace {

struct ParsedUrl {
  std::string scheme_host_port;  // "https://host:port"
  std::string prefix;            // "/v1" (no trailing '/')
};

bool parse_url(const std::string& url, ParsedUrl* out, std::string* why) {
  std::string scheme;
  if (url.rfind("https://", 0) == 0) scheme = "https";
  else if (url.rfind("http://", 0) == 0) scheme = "http";
  else {
    *why = "the upstream URL must start with http:// or https://";
    return false;
  }
  const size_t host_start = scheme.size() + 3;
  size_t slash = url.find('/', host_start);
  std::string authority = url.substr(host_start, slash == std::string::npos ? std::string::npos : slash - host_start);
  if (authority.empty() || authority.find('@') != std::string::npos ||
      authority.find_first_of(" \t\r\n?#") != std::string::npos) {
    *why = "the upstream URL needs a host (no user info, no query)";
    return false;
  }
  std::string prefix = slash == std::string::npos ? "" : url.substr(slash);
  if (prefix.find_first_of("?# \t\r\n") != std::string::npos) {
    *why = "the upstream URL must not carry a query or fragment";
    return false;
  }
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  out->scheme_host_port = scheme + "://" + authority;
  out->prefix = prefix;
  return true;
}

// httplib's error -> the reason recorded in handoff_error and the fallback metric.
std::string error_kind(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
    case httplib::Error::BindIPAddress: return "connect";
    case httplib::Error::ConnectionTimeout: return "timeout";
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification: return "tls";
    case httplib::Error::Read: return "read";
    case httplib::Error::Write: return "write";
    case httplib::Error::Canceled: return "cancelled";
    default: return "error";
  }
}

}  // namespace

std::string check_upstream_url(const std::string& base_url) {
  ParsedUrl u;
  std::string why;
  return parse_url(base_url, &u, &why) ? "" : why;
}

struct UpstreamCall::Impl {
  BlockingQueue<Event> events;  // worker thread -> caller
  std::atomic<bool> cancelled{false};
  std::mutex mu;                            // guards client and finished: stop() vs. the worker's end
  std::unique_ptr<httplib::Client> client;
  bool finished = false;

  void push(Event e) { events.push(std::move(e)); }
};

std::unique_ptr<UpstreamCall> UpstreamCall::start(const UpstreamTarget& target, const std::string& path, std::string body,
                                                  std::vector<std::pair<std::string, std::string>> headers) {
  auto impl = std::make_shared<Impl>();
  std::unique_ptr<UpstreamCall> call(new UpstreamCall(impl));
  ParsedUrl u;
  std::string why;
  if (!parse_url(target.base_url, &u, &why)) {
    Event e;
    e.kind = Event::Kind::Fail;
    e.error = "error";
    e.detail = why;
    impl->push(std::move(e));
    return call;
  }
  auto client = std::make_unique<httplib::Client>(u.scheme_host_port);
  const time_t sec = target.timeout_ms / 1000, usec = (target.timeout_ms % 1000) * 1000;
  client->set_connection_timeout(sec, usec);
  client->set_read_timeout(sec, usec);
  client->set_write_timeout(sec, usec);
  client->set_keep_alive(false);
  client->set_follow_location(false);  // a redirect must not carry the key elsewhere
  if (u.scheme_host_port.rfind("https://", 0) == 0) {
    client->enable_server_certificate_verification(true);
    if (!target.ca_file.empty()) client->set_ca_cert_path(target.ca_file);
  }
  impl->client = std::move(client);
  auto req = std::make_shared<httplib::Request>();
  req->method = "POST";
  req->path = u.prefix + path;
  req->body = std::move(body);
  for (auto& [k, v] : headers) req->headers.emplace(k, v);
  if (req->headers.find("Content-Type") == req->headers.end()) req->headers.emplace("Content-Type", "application/json");
  // The worker owns a reference to the state: the caller may drop the call at any time.
  std::thread([impl, req, timeout_ms = target.timeout_ms] {
    Impl* self = impl.get();
    // When bytes last came (or the request started): httplib reports its socket timeout as a
    // read or write error, and only the silence before it tells it from a broken connection.
    auto last_bytes = std::chrono::steady_clock::now();
    req->response_handler = [self, &last_bytes](const httplib::Response& res) {
      last_bytes = std::chrono::steady_clock::now();
      Event e;
      e.kind = Event::Kind::Head;
      e.status = res.status;
      self->push(std::move(e));
      return !self->cancelled.load();
    };
    req->content_receiver = [self, &last_bytes](const char* data, size_t n, uint64_t, uint64_t) {
      last_bytes = std::chrono::steady_clock::now();
      Event e;
      e.kind = Event::Kind::Data;
      e.data.assign(data, n);
      self->push(std::move(e));
      return !self->cancelled.load();
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool ok = !self->cancelled && self->client->send(*req, res, err);
    Event end;
    if (ok) {
      end.kind = Event::Kind::End;
    } else {
      end.kind = Event::Kind::Fail;
      const bool silent_for_timeout =
          std::chrono::steady_clock::now() - last_bytes >=
          std::chrono::milliseconds(timeout_ms) - std::chrono::milliseconds(50);
      end.error =
          self->cancelled ? "cancelled"
          : (err == httplib::Error::Read || err == httplib::Error::Write) && silent_for_timeout
              ? "timeout"
              : error_kind(err);
      end.detail = httplib::to_string(err);
    }
    self->push(std::move(end));
    std::lock_guard<std::mutex> lock(self->mu);
    self->finished = true;
  }).detach();
  return call;
}

UpstreamCall::~UpstreamCall() { cancel(); }

std::optional<UpstreamCall::Event> UpstreamCall::next(std::chrono::milliseconds wait) {
  return impl_->events.pop(wait);
}

void UpstreamCall::cancel() {
  if (impl_->cancelled.exchange(true)) return;
  std::lock_guard<std::mutex> lock(impl_->mu);
  // Shuts the socket down so that a blocked read returns now (the worker then ends on its own).
  if (!impl_->finished && impl_->client) impl_->client->stop();
}

std::string GetResult::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

namespace {

std::multimap<std::string, std::string> lower_headers(const httplib::Headers& h) {
  std::multimap<std::string, std::string> out;
  for (const auto& [k, v] : h) {
    std::string l = k;
    for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.emplace(l, v);
  }
  return out;
}

// Resolves a Location header against the URL it came from.
std::string resolve_location(const ParsedUrl& from, const std::string& loc) {
  if (loc.rfind("http://", 0) == 0 || loc.rfind("https://", 0) == 0) return loc;
  if (!loc.empty() && loc[0] == '/') return from.scheme_host_port + loc;
  return from.scheme_host_port + "/" + loc;
}

// Timeouts, no automatic redirects (credentials must not follow them), verified TLS.
void configure_get_client(httplib::Client& cli, const ParsedUrl& u, const GetOptions& opt) {
  const time_t sec = opt.timeout_ms / 1000, usec = (opt.timeout_ms % 1000) * 1000;
  cli.set_connection_timeout(sec, usec);
  cli.set_read_timeout(sec, usec);
  cli.set_write_timeout(sec, usec);
  cli.set_follow_location(false);
  cli.set_keep_alive(false);
  if (u.scheme_host_port.rfind("https://", 0) == 0) {
    cli.enable_server_certificate_verification(true);
    if (!opt.ca_file.empty()) cli.set_ca_cert_path(opt.ca_file);
  }
}

// Credentials stay with the first host: Authorization is dropped once a redirect leaves it.
void drop_authorization(std::vector<std::pair<std::string, std::string>>& headers) {
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [](const auto& h) { return strcasecmp(h.first.c_str(), "Authorization") == 0; }),
                headers.end());
}

}  // namespace

GetResult get(const std::string& url, const GetOptions& opt,
              const std::function<bool(const char*, size_t)>& on_body, std::string* error_body) {
  GetResult r;
  std::string cur = url;
  auto headers = opt.headers;
  std::string first_origin;
  for (int hop = 0; hop <= opt.max_redirects; ++hop) {
    ParsedUrl u;
    std::string why;
    // parse_url keeps the path as "prefix"; the query stays in it for GETs
    const size_t q = cur.find('?');
    if (!parse_url(q == std::string::npos ? cur : cur.substr(0, q), &u, &why)) {
      r.error = why;
      return r;
    }
    const std::string path = (u.prefix.empty() ? "/" : u.prefix) + (q == std::string::npos ? "" : cur.substr(q));
    if (u.scheme_host_port.rfind("http://", 0) == 0 && !opt.allow_http) {
      r.error = "refusing plain http:// (" + u.scheme_host_port + "); only https is allowed here";
      return r;
    }
    if (hop == 0) first_origin = u.scheme_host_port;
    else if (u.scheme_host_port != first_origin) drop_authorization(headers);
    httplib::Client cli(u.scheme_host_port);
    configure_get_client(cli, u, opt);
    httplib::Headers hh;
    for (const auto& [k, v] : headers) hh.emplace(k, v);
    int status = 0;
    bool stopped = false;
    std::string err_body;
    auto res = cli.Get(
        path, hh,
        [&](const httplib::Response& resp) {
          status = resp.status;
          return true;
        },
        [&](const char* data, size_t n) {
          if (status >= 200 && status < 300) {
            if (!on_body(data, n)) {
              stopped = true;
              return false;
            }
          } else if (err_body.size() < 65536) {
            err_body.append(data, std::min(n, 65536 - err_body.size()));
          }
          return true;
        });
    r.final_url = cur;
    if (!res) {
      const httplib::Error e = res.error();
      r.error = stopped ? "cancelled"
                : e == httplib::Error::SSLServerVerification
                    ? "TLS certificate verification failed for " + u.scheme_host_port
                    : httplib::to_string(e) + " (" + u.scheme_host_port + ")";
      r.status = status;
      return r;
    }
    r.status = res->status;
    r.headers = lower_headers(res->headers);
    if (hop == 0) r.first_headers = r.headers;
    const bool redirect = res->status == 301 || res->status == 302 || res->status == 303 ||
                          res->status == 307 || res->status == 308;
    if (!redirect) {
      if (error_body) *error_body = err_body;
      return r;
    }
    const std::string loc = r.header("location");
    if (loc.empty()) {
      r.error = "redirect without a Location header";
      return r;
    }
    cur = resolve_location(u, loc);
  }
  r.error = "too many redirects";
  return r;
}

}  // namespace lfmd::http
