// The socket facts httplib hides: a listening socket's backlog raised (connection bursts complete
// instead of being dropped), a connection found by its addresses, and a closed peer noticed
// without consuming pipelined bytes.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/sockets.h"

namespace r1::server {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A socket listening on a free loopback port with httplib's backlog of 5.
int listen_small(int& port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(0);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(listen(fd, 5), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// Starts n non-blocking connections that nobody accepts; returns how many complete in 300 ms.
int connections_completed(int port, int n) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a = loopback(port);
    connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fds.push_back(fd);
  }
  usleep(300 * 1000);
  int done = 0;
  for (int fd : fds) {
    int err = -1;
    socklen_t len = sizeof err;
    pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, 0) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
      ++done;
    close(fd);
  }
  return done;
}

TEST(Sockets, RaisedBacklogQueuesABurstOfConnections) {
  int port = 0;
  const int small = listen_small(port);
  EXPECT_LT(connections_completed(port, 40), 40);  // the small backlog drops some
  close(small);
  const int fd = listen_small(port);
  ASSERT_TRUE(raise_listen_backlog(port));
  EXPECT_EQ(connections_completed(port, 40), 40);
  close(fd);
  EXPECT_FALSE(raise_listen_backlog(port));  // nothing listens there any more
}

TEST(Sockets, ConnectionIsFoundAndItsPeerClosingNoticed) {
  int port = 0;
  const int lfd = listen_small(port);
  int client = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(port);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const int server = accept(lfd, nullptr, nullptr);
  ASSERT_GE(server, 0);
  sockaddr_in c = {};
  socklen_t len = sizeof c;
  getsockname(client, reinterpret_cast<sockaddr*>(&c), &len);
  const int client_port = ntohs(c.sin_port);

  EXPECT_EQ(find_connection_socket(port, "127.0.0.1", client_port), server);
  EXPECT_EQ(find_connection_socket(port, "127.0.0.2", client_port), std::nullopt);
  EXPECT_EQ(find_connection_socket(port, "127.0.0.1", client_port + 1), std::nullopt);
  EXPECT_EQ(find_connection_socket(-1, "127.0.0.1", client_port), std::nullopt);

  EXPECT_FALSE(peer_closed(server));  // connected, nothing sent
  ASSERT_EQ(send(client, "GET", 3, 0), 3);
  EXPECT_FALSE(peer_closed(server));  // pipelined bytes: still there, and not consumed
  char buf[8];
  EXPECT_EQ(recv(server, buf, sizeof buf, 0), 3);
  close(client);
  usleep(50 * 1000);
  EXPECT_TRUE(peer_closed(server));
  close(server);
  close(lfd);
}

}  // namespace
}  // namespace r1::server
