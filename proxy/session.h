// One client <-> backend session: the client over TLS, the backend in
// plaintext, bytes moved between them exactly.
//
// Lifetime: a Session is created on accept and deletes itself once all its
// libuv handles have closed. Close(reason) is the only way out; the first
// reason wins and is counted exactly once, in the destructor.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "imap/capabilities.h"
#include "imap/command_framer.h"
#include "imap/greeting.h"
#include "imap/response_framer.h"
#include "proxy/byte_queue.h"
#include "proxy/limits.h"
#include "proxy/runtime.h"
#include "proxy/stats.h"
#include "tls/endpoint.h"

namespace imapfront {

class Worker;

class Session final : private tls::CiphertextSink, private imap::ResponseVisitor {
 public:
  // |listener| outlives the session (it belongs to |runtime|).
  Session(Worker* worker, std::shared_ptr<const Runtime> runtime, const ListenerConfig* listener);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The client handle, for uv_accept(); then Start().
  uv_stream_t* client_stream() { return reinterpret_cast<uv_stream_t*>(&client_.tcp); }
  void Start();

  // Ends the session. |bye| (without "* BYE " and CRLF) is sent to the client
  // first when it can still read it. Idempotent; the first reason counts.
  void Close(CloseReason reason, const char* bye = nullptr);

  // The server is stopping: end now if no command is in progress, else once
  // the command in progress finishes, or at shutdown_grace at the latest.
  void BeginShutdown();

  // Intrusive list of the worker's sessions.
  Session* prev = nullptr;
  Session* next = nullptr;

 private:
  // kPlain: a STARTTLS listener's session before the client's STARTTLS.
  enum class Phase { kPlain, kHandshake, kConnecting, kRelay, kClosing };

  // One TCP connection and the queue of bytes waiting to be written to it.
  struct Side {
    uv_tcp_t tcp{};
    uv_write_t write_req{};
    uv_shutdown_t shutdown_req{};
    ByteQueue out;
    size_t in_flight = 0;  // bytes of |out| handed to uv_write
    bool open = false;     // handle initialized and not yet closed
    bool reading = false;
    bool eof = false;   // no more bytes will come from the peer
    bool dead = false;  // the socket failed; nothing more can be written
    bool shut_down = false;
    bool connected = false;
  };

  // Events.
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnClientRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnBackendRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnWriteDone(uv_write_t* req, int status);
  static void OnShutdownDone(uv_shutdown_t* req, int status);
  static void OnConnect(uv_connect_t* req, int status);
  static void OnTimer(uv_timer_t* timer);
  static void OnHandleClosed(uv_handle_t* handle);

  // Client side.
  void ClientBytes(std::span<const uint8_t> ciphertext);
  void ClientEof();
  // Before STARTTLS: imapfront answers the client itself; nothing reaches a
  // backend (none is connected yet).
  void PlainBytes(std::span<const uint8_t> bytes);
  void AnswerBeforeTls(const imap::CommandStep& step);
  void WritePlain(std::string_view text);
  void HandshakeDone();
  void ClientPlaintext(std::span<const uint8_t> plaintext);
  size_t FrameClient(std::span<const uint8_t> plaintext);
  void HandleClientLine(const imap::CommandStep& step);
  void ResumeClient();
  void ForwardToBackend(std::span<const uint8_t> plaintext);
  // A line imapfront answers itself, kept in order with the backend's responses.
  void AnswerClient(const std::string& line);

  // Backend side.
  void ConnectNextBackend();
  void BackendConnectFailed(const char* why);
  void BackendBytes(std::span<const uint8_t> bytes);
  void BackendGreeted();
  void ForwardToClient(std::span<const uint8_t> plaintext);
  void ForwardStatusLine(std::span<const uint8_t> line, bool capability_response);
  void OnResponseBytes(std::span<const uint8_t> bytes) override;
  void OnResponseLine(const imap::ResponseLine& line) override;
  void OnResponseEnd() override;
  CloseReason EndReason(bool client_first) const;

  // The pump: flush both sides, propagate ends, recompute read interest.
  void Pump();
  void PumpOnce();
  const Limits& limits() const;
  void Flush(Side& side);
  void UpdateReading(Side& side, bool want, uv_read_cb cb);
  void ArmTimer(double seconds);
  // In relay: the timer serves the nearest of the idle, lifetime, grace and
  // shutdown deadlines (loop milliseconds); no timer work per byte.
  void ArmRelayTimer();
  void RelayDeadlines(uint64_t now);
  // Lifetime or shutdown: end at the first moment no command is in progress.
  void EndWhenQuiet(CloseReason reason, uint64_t deadline_ms);
  void CloseHandles();
  void OnCiphertext(std::span<const uint8_t> bytes) override;

  Worker* worker_;
  std::shared_ptr<const Runtime> runtime_;
  const ListenerConfig* listener_;
  const RouteConfig* route_ = nullptr;
  SessionCounters* route_counters_ = nullptr;
  uint64_t id_;
  std::string client_address_;
  std::optional<ConnectionSlot> slot_;  // this connection in the shared caps
  const char* over_limit_ = nullptr;    // which cap it is over, if any

  Side client_;
  Side backend_;
  uv_timer_t timer_{};
  uv_connect_t connect_req_{};
  int open_handles_ = 0;

  std::unique_ptr<tls::Endpoint> tls_;
  Phase phase_ = Phase::kHandshake;
  size_t backend_index_ = 0;  // the backend being tried or used
  std::optional<imap::GreetingScanner> greeting_;
  std::string greeting_line_;
  std::optional<imap::CommandFramer> commands_;    // set once the route is known
  std::optional<imap::ResponseFramer> responses_;  // likewise
  imap::CapabilityEdit capability_edit_;
  ByteQueue client_hold_;       // decrypted client bytes the framer cannot take yet
  std::string local_answers_;   // imapfront's own answers waiting for a response boundary
  bool resume_client_ = false;  // the server answered what the framer waits for
  bool logout_seen_ = false;

  // For the access log.
  void WriteAccessLog(CloseReason reason) const;
  void NoteUser(const imap::CommandStep& step);
  std::string user_;
  enum class UserSource { kNone, kLoginLiteral, kPlainResponse } user_next_ = UserSource::kNone;
  uint64_t bytes_in_ = 0;   // plaintext from the client, as forwarded
  uint64_t bytes_out_ = 0;  // plaintext to the client
  uint64_t commands_count_ = 0;
  uint64_t appends_count_ = 0;
  bool client_sent_bytes_ = false;
  bool pumping_ = false;
  uint64_t last_activity_ms_ = 0;
  uint64_t born_ms_ = 0;
  std::optional<CloseReason> pending_end_;  // lifetime or shutdown, waiting for quiet
  uint64_t pending_deadline_ms_ = 0;        // ... or this moment at the latest
  std::optional<CloseReason> reason_;
};

}  // namespace imapfront
