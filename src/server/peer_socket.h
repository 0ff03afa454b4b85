#pragma once
// Finding out whether an HTTP client is still there while its non-streaming answer is computed.
// cpp-httplib 0.11 hands a handler the request but not its socket, so the socket is found by its
// addresses among the process's open descriptors (Linux /proc/self/fd). The descriptor stays open
// while the handler runs: httplib closes it only after the handler returns.
#include <optional>
#include <string>

namespace r1::server {

// The connected TCP socket whose local port is `local_port` and whose peer is
// `remote_addr`:`remote_port` (numeric host, as httplib reports it); nullopt when none matches.
std::optional<int> find_connection_socket(int local_port, const std::string& remote_addr,
                                          int remote_port);

// True when the peer has closed the connection (orderly or by reset). Never blocks, never
// consumes data: bytes a client already sent (a pipelined request) stay for httplib to read.
bool peer_closed(int fd);

}  // namespace r1::server
