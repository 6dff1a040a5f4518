#include "chansum/amqp/connection.hpp"

#include "bytes.hpp"

#include <amqp_tcp_socket.h>

#include <algorithm>
#include <cstring>

#include "chansum/common/logging.hpp"

namespace chansum::amqp {

using detail::BytesToString;
using detail::View;
namespace {

// Reply codes after which trying again later can succeed: connection-forced (broker shutting
// down, admin close), resource-locked, resource-error, internal-error. Everything else (access
// refused, not found, precondition failed, protocol errors) needs a change first.
ErrorClass ClassOfReplyCode(int code) {
  switch (code) {
    case AMQP_CONNECTION_FORCED:
    case AMQP_RESOURCE_LOCKED:
    case AMQP_RESOURCE_ERROR:
    case AMQP_INTERNAL_ERROR:
      return ErrorClass::kTransient;
    default:
      return ErrorClass::kPermanent;
  }
}

}  // namespace

timeval ToTimeval(std::chrono::microseconds d) noexcept {
  if (d.count() < 0) d = std::chrono::microseconds(0);
  timeval tv;
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(d.count() / 1'000'000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>(d.count() % 1'000'000);
  return tv;
}

Connection::Connection(AmqpConfig config, std::string name)
    : config_(std::move(config)), name_(std::move(name)) {}

Result<std::unique_ptr<Connection>> Connection::Open(const AmqpConfig& config, std::string name) {
  std::unique_ptr<Connection> conn(new Connection(config, std::move(name)));
  const std::string where = " (" + config.Redacted() + ", connection '" + conn->name_ + "')";

  conn->state_ = amqp_new_connection();
  if (conn->state_ == nullptr) {
    return Error::Transient("amqp_io", "cannot allocate an AMQP connection" + where);
  }
  amqp_socket_t* socket = amqp_tcp_socket_new(conn->state_);  // owned by the connection state
  if (socket == nullptr) {
    return Error::Transient("amqp_io", "cannot create a TCP socket" + where);
  }
  timeval connect_tv = ToTimeval(config.connect_timeout);
  errno = 0;
  int rc = amqp_socket_open_noblock(socket, config.host.c_str(), config.port, &connect_tv);
  if (rc != AMQP_STATUS_OK) {
    const int err = errno;
    std::string detail = amqp_error_string2(rc);
    if (rc == AMQP_STATUS_SOCKET_ERROR && err != 0)
      detail += std::string(": ") + std::strerror(err);
    return Error::Transient(rc == AMQP_STATUS_TIMEOUT ? "amqp_timeout" : "amqp_connect",
                            "cannot connect: " + detail + where);
  }
  amqp_set_handshake_timeout(conn->state_, &connect_tv);

  // Client properties: a connection name for rabbitmqctl/management, and the capability to be
  // told (basic.cancel) when our queue is deleted instead of waiting forever.
  amqp_table_entry_t capabilities[1];
  std::memset(capabilities, 0, sizeof(capabilities));
  capabilities[0].key = amqp_cstring_bytes("consumer_cancel_notify");
  capabilities[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capabilities[0].value.value.boolean = 1;
  amqp_table_entry_t props[2];
  std::memset(props, 0, sizeof(props));
  props[0].key = amqp_cstring_bytes("connection_name");
  props[0].value.kind = AMQP_FIELD_KIND_UTF8;
  props[0].value.value.bytes = View(conn->name_);
  props[1].key = amqp_cstring_bytes("capabilities");
  props[1].value.kind = AMQP_FIELD_KIND_TABLE;
  props[1].value.value.table.num_entries = 1;
  props[1].value.value.table.entries = capabilities;
  amqp_table_t client_properties;
  client_properties.num_entries = 2;
  client_properties.entries = props;

  const auto heartbeat = static_cast<int>(config.heartbeat.count());
  amqp_rpc_reply_t login = amqp_login_with_properties(
      conn->state_, config.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE, heartbeat, &client_properties,
      AMQP_SASL_METHOD_PLAIN, config.user.c_str(), config.password.c_str());
  conn->ok_ = true;  // from here on failures go through CheckReply, which clears it
  if (auto st = conn->CheckReply(login, "login as '" + config.user + "'"); !st.ok()) {
    // Bad credentials / unknown vhost arrive as connection.close 403/530: permanent.
    Error e = std::move(st).error();
    e.message += " [" + config.Redacted() + "]";
    return e;
  }

  timeval rpc_tv = ToTimeval(config.rpc_timeout);
  amqp_set_rpc_timeout(conn->state_, &rpc_tv);

  amqp_channel_open(conn->state_, kChannel);
  if (auto st = conn->CheckReply(amqp_get_rpc_reply(conn->state_), "channel.open"); !st.ok()) {
    Error e = std::move(st).error();
    e.message += " [" + config.Redacted() + "]";
    return e;
  }
  return conn;
}

Connection::~Connection() {
  if (state_ == nullptr) return;
  if (ok_) {
    // Bounded polite close: a broker that stopped answering must not hang shutdown.
    timeval tv = ToTimeval(
        std::min<std::chrono::microseconds>(config_.rpc_timeout, std::chrono::seconds(2)));
    amqp_set_rpc_timeout(state_, &tv);
    amqp_rpc_reply_t r = amqp_channel_close(state_, kChannel, AMQP_REPLY_SUCCESS);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(state_);  // closes the socket
}

int Connection::socket_fd() const noexcept {
  return state_ == nullptr ? -1 : amqp_get_sockfd(state_);
}

Status Connection::CheckUsable(std::string_view what) const {
  if (ok_) return OkStatus();
  return Error::Transient("amqp_connection_closed",
                          std::string(what) + ": AMQP connection '" + name_ +
                              "' is closed after an earlier error; open a new one");
}

Error Connection::Fail(Error error) {
  ok_ = false;
  return error;
}

Error Connection::LibraryError(int status, std::string_view what) {
  const bool timeout = status == AMQP_STATUS_TIMEOUT || status == AMQP_STATUS_HEARTBEAT_TIMEOUT;
  return Fail(Error::Transient(timeout ? "amqp_timeout" : "amqp_io",
                               std::string(what) + " failed: " + amqp_error_string2(status) +
                                   " (connection '" + name_ + "')"));
}

Error Connection::ServerError(const amqp_method_t& method, std::string_view what) {
  int code = 0;
  std::string text;
  std::string scope;
  if (method.id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto* m = static_cast<const amqp_connection_close_t*>(method.decoded);
    code = m->reply_code;
    text = BytesToString(m->reply_text);
    scope = "connection";
    amqp_connection_close_ok_t close_ok{};
    amqp_send_method(state_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
  } else if (method.id == AMQP_CHANNEL_CLOSE_METHOD) {
    const auto* m = static_cast<const amqp_channel_close_t*>(method.decoded);
    code = m->reply_code;
    text = BytesToString(m->reply_text);
    scope = "channel";
    amqp_channel_close_ok_t close_ok{};
    amqp_send_method(state_, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
  } else {
    scope = "unexpected reply";
    text = amqp_method_name(method.id);
  }
  Error e{ClassOfReplyCode(code),
          scope == "channel" ? "amqp_channel_closed" : "amqp_connection_closed",
          std::string(what) + ": " + scope + " closed by the server: " + std::to_string(code) +
              " " + text + " (connection '" + name_ + "')"};
  return Fail(std::move(e));
}

Status Connection::CheckReply(const amqp_rpc_reply_t& reply, std::string_view what) {
  if (auto st = CheckUsable(what); !st.ok()) return st;
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return OkStatus();
    case AMQP_RESPONSE_NONE:
      return Fail(Error::Transient(
          "amqp_io",
          std::string(what) + ": no reply from librabbitmq (connection '" + name_ + "')"));
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return LibraryError(reply.library_error, what);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      return ServerError(reply.reply, what);
  }
  return Fail(Error::Transient("amqp_io", std::string(what) + ": unknown reply type"));
}

Status Connection::CheckStatus(int status, std::string_view what) {
  if (auto st = CheckUsable(what); !st.ok()) return st;
  if (status >= 0) return OkStatus();
  return LibraryError(status, what);
}

std::optional<Error> Connection::HandleServerClose(const amqp_frame_t& frame,
                                                   std::string_view what) {
  if (frame.frame_type != AMQP_FRAME_METHOD) return std::nullopt;
  const amqp_method_t& m = frame.payload.method;
  if (m.id != AMQP_CONNECTION_CLOSE_METHOD && m.id != AMQP_CHANNEL_CLOSE_METHOD) {
    return std::nullopt;
  }
  return ServerError(m, what);
}

}  // namespace chansum::amqp
