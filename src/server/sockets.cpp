#include "server/sockets.h"

#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace r1::server {
namespace {

int port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

std::string host_of(const sockaddr_storage& a, socklen_t len) {
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, host, sizeof host, nullptr, 0,
                  NI_NUMERICHOST) != 0)
    return {};
  return host;
}

// Calls visit(fd) for each open socket descriptor until it returns true; returns that fd.
template <class F>
std::optional<int> find_socket(F&& visit) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return std::nullopt;
  std::optional<int> found;
  const int self = dirfd(d);
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == self) continue;
    struct stat st;
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (visit(static_cast<int>(fd))) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(d);
  return found;
}

int local_port_of(int fd) {
  sockaddr_storage local = {};
  socklen_t len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return -1;
  return port_of(local);
}

bool matches(int fd, int local_port, const std::string& remote_addr, int remote_port) {
  if (local_port_of(fd) != local_port) return false;
  sockaddr_storage peer = {};
  socklen_t plen = sizeof peer;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) return false;
  return port_of(peer) == remote_port && host_of(peer, plen) == remote_addr;
}

}  // namespace

std::optional<int> find_connection_socket(int local_port, const std::string& remote_addr,
                                          int remote_port) {
  if (local_port <= 0 || remote_port <= 0) return std::nullopt;
  return find_socket([&](int fd) { return matches(fd, local_port, remote_addr, remote_port); });
}

bool raise_listen_backlog(int port) {
  const std::optional<int> fd = find_socket([&](int fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening &&
           local_port_of(fd) == port;
  });
  return fd && listen(*fd, SOMAXCONN) == 0;  // listen() again only resizes the queue
}

bool peer_closed(int fd) {
  char c;
  const ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;
  if (n == 0) return true;
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace r1::server
