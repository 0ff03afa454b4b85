#pragma once
// What cpp-httplib 0.11 does not expose about its sockets, found among the process's open
// descriptors (Linux /proc/self/fd) by their addresses: the listening socket (its backlog), and a
// request's connection (whether the client is still there while a non-streaming answer is
// computed). A request's descriptor stays open while its handler runs: httplib closes it only
// after the handler returns.
#include <optional>
#include <string>

namespace r1::server {

// The connected TCP socket whose local port is `local_port` and whose peer is
// `remote_addr`:`remote_port` (numeric host, as httplib reports it); nullopt when none matches.
std::optional<int> find_connection_socket(int local_port, const std::string& remote_addr,
                                          int remote_port);

// Raises the accept backlog of the socket listening on `port` to the system's maximum (httplib
// listens with a backlog of 5: beyond it the kernel drops connection attempts, and clients retry
// only after a second). False when no such socket was found or listen() refused.
bool raise_listen_backlog(int port);

// True when the peer has closed the connection (orderly or by reset). Never blocks, never
// consumes data: bytes a client already sent (a pipelined request) stay for httplib to read.
bool peer_closed(int fd);

}  // namespace r1::server
