#pragma once
// One RabbitMQ connection with one open channel, over librabbitmq 0.11.
//
// Threading: NOT thread-safe. A Connection (and the Publisher/Consumer built on it) belongs to one
// thread for its whole life; librabbitmq services heartbeats only inside calls on that thread, so
// that thread must keep calling in (Consumer::Next with a timeout, publishes) and do slow work
// elsewhere.
//
// Errors: every librabbitmq reply is checked. A socket/protocol failure, a timeout or a close from
// the server ends the connection: the call returns an Error naming what failed (and the server's
// reply code and text when it sent one) and ok() becomes false for good. There is no automatic
// recovery: the caller drops the object and opens a new one (with backoff).
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <amqp.h>

#include "chansum/amqp/config.hpp"
#include "chansum/common/result.hpp"

namespace chansum::amqp {

class Connection {
 public:
  static constexpr amqp_channel_t kChannel = 1;

  // Connects (TCP with config.connect_timeout), logs in (heartbeat config.heartbeat, client
  // property connection_name = `name`, see rabbitmqctl list_connections client_properties) and
  // opens channel 1. Errors: transient when the server cannot be reached or closes the connection,
  // permanent for refused credentials / unknown vhost.
  [[nodiscard]] static Result<std::unique_ptr<Connection>> Open(const AmqpConfig& config,
                                                                std::string name);

  // Closes the channel and connection politely when still healthy (bounded wait), then frees.
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const AmqpConfig& config() const noexcept { return config_; }
  // Socket file descriptor (for diagnostics and fault-injection tests), -1 once closed.
  [[nodiscard]] int socket_fd() const noexcept;

  // ---- Building blocks for the Publisher, Consumer and topology helpers in this library. ----
  [[nodiscard]] amqp_connection_state_t raw() noexcept { return state_; }
  // Error when the connection is already dead (so calls on a dead connection fail fast).
  [[nodiscard]] Status CheckUsable(std::string_view what) const;
  // Converts the reply of a synchronous librabbitmq call; any failure kills the connection. A
  // channel/connection close from the server is answered with close-ok.
  [[nodiscard]] Status CheckReply(const amqp_rpc_reply_t& reply, std::string_view what);
  // Converts a librabbitmq status code (< 0 is an error); any failure kills the connection.
  [[nodiscard]] Status CheckStatus(int status, std::string_view what);
  // For frame loops: when `frame` is a channel.close or connection.close from the server, answers
  // it, kills the connection and returns the error; nullopt for any other frame.
  [[nodiscard]] std::optional<Error> HandleServerClose(const amqp_frame_t& frame,
                                                       std::string_view what);
  // Kills the connection with an error of our own making (e.g. a confirm timeout).
  Error Fail(Error error);

 private:
  Connection(AmqpConfig config, std::string name);
  Error ServerError(const amqp_method_t& method, std::string_view what);
  Error LibraryError(int status, std::string_view what);

  AmqpConfig config_;
  std::string name_;
  amqp_connection_state_t state_ = nullptr;
  bool ok_ = false;
};

// timeval for librabbitmq waits (negative durations become zero).
[[nodiscard]] timeval ToTimeval(std::chrono::microseconds d) noexcept;

}  // namespace chansum::amqp
