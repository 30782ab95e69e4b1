// Plain POSIX socket helpers under the HTTP server (no HTTP library here).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace lfmd::http::sock {

// The peer's (remote) or this side's (local) address of a socket: false if not IPv4/IPv6.
bool endpoint(int fd, bool remote, std::string& ip, int& port);
// The connection's socket, found by its peer address (slow: scans /proc/self/fd); -1 if none.
int find_peer(const std::string& addr, int port);
// false once the peer has closed (EOF) or reset the connection; true for fd < 0 (unknown).
bool peer_alive(int fd);
// poll() for one event with a timeout in ms: 1 ready, 0 timed out, -1 error or hang-up only.
int wait_readable(int fd, int timeout_ms);
int wait_writable(int fd, int timeout_ms);
// Writes all bytes, each wait bounded by timeout_ms; false on error or timeout (MSG_NOSIGNAL).
bool send_all(int fd, std::string_view bytes, int timeout_ms);
// Raises the soft open-files limit to the hard one; returns the soft limit now in force.
long raise_open_files_limit();

}  // namespace lfmd::http::sock
