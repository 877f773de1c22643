// One client <-> backend session: the client over TLS, the backend in
// plaintext, bytes moved between them exactly. Session is the I/O shell:
// sockets, TLS, timers, queues and counters. Every IMAP decision is the
// imap::Conversation's (and, before STARTTLS, the imap::StartTlsGate's).
//
// The phases live in their own files:
//   session.cc          lifecycle, the pump, timers, Close(reason)
//   session_client.cc   the client's socket: TLS, the plaintext STARTTLS
//                       phase, the handshake and the route
//   session_relay.cc    the two byte paths through the Conversation
//   backend_connect.cc  connect, failover and the greeting
//   session_login.cc    login: "proxy" listeners: the not-authenticated
//                       state, login attempts, throttling
//   session_client_address.cc  the PROXY header from a balancer, and the
//                       client's address for backends (forward_client)
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

#include "imap/backend_login.h"
#include "imap/conversation.h"
#include "imap/greeting.h"
#include "imap/login_gate.h"
#include "imap/pre_auth.h"
#include "proxy/byte_queue.h"
#include "proxy/limits.h"
#include "proxy/net/proxy_header.h"
#include "proxy/runtime.h"
#include "proxy/session_host.h"
#include "proxy/stats.h"
#include "proxy/uv_handle.h"
#include "tls/endpoint.h"

namespace imapfront {

class Session final : private tls::CiphertextSink, private imap::ConversationSink {
 public:
  // |listener| outlives the session (it belongs to |runtime|).
  Session(SessionHost* host, std::shared_ptr<const Runtime> runtime,
          const ListenerConfig* listener);
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

  // The host's DeadlineQueue callback: |session|'s deadline has passed.
  static void OnDeadline(void* session) { OnTimer(static_cast<Session*>(session)); }

  // For HandleGroup.
  HandleGroup<Session>& handle_group() { return handles_; }
  void OnHandlesClosed();

  // Intrusive list of the host's sessions.
  Session* prev = nullptr;
  Session* next = nullptr;

 private:
  // kPlain: a STARTTLS listener's session before the client's STARTTLS.
  // kLogin: on a login "proxy" listener, imapfront's own not-authenticated
  // state; an attempt then goes kConnecting, kLoggingIn (the backend's
  // LOGIN exchange) and kRelay, or back to kLogin.
  // kProxyHeader: a proxy_protocol listener's session before its PROXY header.
  enum class Phase : uint8_t {
    kProxyHeader,
    kPlain,
    kHandshake,
    kLogin,
    kConnecting,
    kLoggingIn,
    kRelay,
    kClosing
  };

  // One TCP connection and the queue of bytes waiting to be written to it.
  struct Side {
    enum class State : uint8_t {
      kUnused,      // no handle
      kConnecting,  // a backend connect in progress
      kOpen,
      kInputEnded,  // the peer will send no more bytes
      kOutputShut,  // imapfront sent its FIN (backend only); still reading
      kBothEnded,   // both of the above
      kFailed,      // the socket failed: nothing more can be written or read
      kClosed,      // uv_close called
    };
    uv_tcp_t tcp{};
    // Requests exist only while libuv holds them (a write the socket could
    // not take at once): an idle session carries none.
    std::unique_ptr<uv_write_t> write_req;
    ByteQueue out;
    uint32_t in_flight = 0;  // bytes of |out| handed to uv_write (Flush hands at most 32 chunks)
    State state = State::kUnused;
    bool reading = false;  // read interest, as last given to libuv

    bool open() const { return state != State::kUnused && state != State::kClosed; }
    bool connected() const { return open() && state != State::kConnecting; }
    bool input_ended() const {
      return state == State::kInputEnded || state == State::kBothEnded || state == State::kFailed;
    }
    bool output_shut() const { return state == State::kOutputShut || state == State::kBothEnded; }
    bool failed() const { return state == State::kFailed; }
    bool drained() const { return out.empty() && in_flight == 0; }
    void EndInput();
    void ShutOutput();
    void Fail() {
      if (open()) state = State::kFailed;
    }
  };

  // ---- session.cc: events, the pump, timers, the end ----
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnWriteDone(uv_write_t* req, int status);
  static void OnTimer(Session* self);
  void Pump();
  void PumpOnce();
  const Limits& limits() const;
  void Flush(Side& side);
  uint64_t ReadRoom(const Side& side) const;
  void UpdateReading(Side& side, bool want, uv_read_cb cb);
  void ArmTimer(double seconds);
  // In relay: the timer serves the nearest of the idle, lifetime, grace and
  // shutdown deadlines (loop milliseconds); no timer work per byte.
  void ArmRelayTimer();
  void RelayDeadlines(uint64_t now);
  // Lifetime or shutdown: end at the first moment no command is in progress.
  void EndWhenQuiet(CloseReason reason, uint64_t deadline_ms);
  CloseReason EndReason(bool client_first) const;
  void CloseHandles();
  AccessLogEntry EndRecord(CloseReason reason) const;
  void LogEnd(const AccessLogEntry& end) const;

  // ---- session_client.cc: the client's socket ----
  static void OnClientRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void Admit();
  void ClientBytes(std::span<const uint8_t> ciphertext);
  void ClientEof();
  bool client_sent_bytes() const { return handshake_start_ns_ != 0; }
  void PlainBytes(std::span<const uint8_t> bytes);
  void WritePlain(std::string_view text);
  void HandshakeDone();
  void StartConversation();
  void OnCiphertext(std::span<const uint8_t> bytes) override;

  // ---- session_relay.cc: the byte paths through the Conversation ----
  void ClientPlaintext(std::span<const uint8_t> plaintext);
  void ResumeClient();
  void ToBackend(std::span<const uint8_t> bytes, ToBackendKind kind) override;
  void ToClient(std::span<const uint8_t> bytes, ToClientKind kind) override;
  void CommandBegan(imap::Verb verb) override;
  void Fail(Failure failure) override;
  void CountEmulated(Emulated kind) override;
  void SetPollTimer(double seconds) override;

  // ---- session_login.cc: login "proxy" listeners ----
  bool login_proxy() const { return listener_->login == LoginMode::kProxy; }
  bool attempt_in_progress() const {
    return phase_ == Phase::kConnecting || phase_ == Phase::kLoggingIn;
  }
  static void OnDroppedBackendClosed(uv_handle_t* handle);
  void StartLogin();
  void WriteClient(std::string_view text);
  void FeedLoginGate();
  void BeginAttempt();
  void LoginBackendGreeted(std::span<const uint8_t> rest);
  void LoginBackendBytes(std::span<const uint8_t> bytes);
  void LoginSucceeded(std::span<const uint8_t> rest);
  void LoginRefused(const char* why);
  void AttemptUnavailable(const char* answer, const char* why);
  void EndAttempt();
  void DropBackend();
  void LoginDeadlines(uint64_t now);
  void ArmLoginTimer();
  ThrottlePolicy throttle_policy() const;

  // ---- session_client_address.cc: PROXY header in, client address out ----
  void ProxyHeaderBytes(std::span<const uint8_t> bytes);
  // The client's address (forwarded, or the peer's) and where it reached
  // imapfront; false when the client's socket is gone already.
  bool ClientAddresses(sockaddr_storage* source, sockaddr_storage* local) const;
  // The client's address as logs show it ("203.0.113.7:51234",
  // "[2001:db8::7]:51234"; "-" when it was never known): made from the slot's
  // address (or the PROXY header's source) when a log line needs it.
  std::string client_address() const;
  // forward_client "id": the ID command; nullopt when the client is gone.
  std::optional<std::string> ForwardIdCommand() const;
  void BackendConnected();  // the PROXY header for the backend

  // ---- backend_connect.cc: connect, failover, greeting ----
  static void OnBackendRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnShutdownDone(uv_shutdown_t* req, int status);
  static void OnConnect(uv_connect_t* req, int status);
  static void OnFailedAttemptClosed(uv_handle_t* handle);
  static void OnResolved(ResolveWait* wait, const ResolveResult& result);
  void ConnectNextBackend();
  void Resolved(const ResolveResult& result);
  void StartConnect(const sockaddr* address);
  void BackendConnectFailed(const char* why);
  void EndConnecting();  // cancels the name lookup, frees connecting_
  void BackendBytes(std::span<const uint8_t> bytes);
  void BackendGreeted();
  void LogSessionStart() const;

  SessionHost* host_;
  std::shared_ptr<const Runtime> runtime_;
  const ListenerConfig* listener_;
  const RouteConfig* route_ = nullptr;
  const BackendAddress* backend_used_ = nullptr;  // the backend that greeted
  SessionCounters* route_counters_ = nullptr;
  uint64_t id_;
  std::optional<ConnectionSlot> slot_;  // this connection in the shared caps
  const char* over_limit_ = nullptr;    // which cap it is over, if any

  HandleGroup<Session> handles_{this};
  Side client_;
  Side backend_;
  DeadlineQueue::Entry deadline_;              // the session's one timer, in the worker's queue
  std::unique_ptr<uv_connect_t> connect_req_;  // while a backend connect is in progress
  std::unique_ptr<uv_shutdown_t> backend_shutdown_req_;  // while the backend's FIN is queued

  std::unique_ptr<tls::Endpoint> tls_;
  std::unique_ptr<net::ProxyHeaderParser> proxy_header_;  // kProxyHeader only
  std::unique_ptr<sockaddr_storage> forwarded_source_;    // the PROXY header's source
  std::unique_ptr<imap::StartTlsGate> gate_;              // kPlain only (not kept in every session)
  // While a backend is being connected to (name, connect, greeting); a
  // relaying session pays one pointer.
  struct Connecting {
    explicit Connecting(size_t max_line_bytes) : greeting(max_line_bytes) {}
    uint64_t start_ns = uv_hrtime();  // the attempt began (the backend_connect histogram)
    imap::GreetingScanner greeting;
    std::string greeting_line;
    ResolveWait resolve_wait;  // the backend's name being looked up
  };
  std::unique_ptr<Connecting> connecting_;
  std::optional<imap::Conversation> conversation_;  // set once the route is known
  ByteQueue client_hold_;  // decrypted client bytes the conversation cannot take yet
  // login "proxy" listeners only (made in StartLogin; relay sessions pay
  // one pointer).
  struct LoginState {
    std::unique_ptr<imap::LoginGate> gate;        // until a login succeeded
    std::unique_ptr<imap::BackendLogin> backend;  // during the LOGIN exchange
    std::string user;                             // the last attempt's login name
    imap::Conversation::Login result = imap::Conversation::Login::kNone;
    uint64_t failures = 0;             // refused by a backend, in this session
    std::string delayed_answer;        // a failure answer waiting out its delay
    uint64_t delayed_answer_ms = 0;    // ... until this moment
    bool delayed_answer_ends = false;  // ... and then the session ends (max_login_attempts)
    bool backend_closing = false;      // a dropped backend's handle is not closed yet
    bool feeding = false;              // FeedLoginGate() is running
  };
  std::unique_ptr<LoginState> login_;

  // For the access log.
  uint64_t bytes_in_ = 0;   // plaintext from the client, as forwarded
  uint64_t bytes_out_ = 0;  // plaintext to the client
  uint64_t commands_count_ = 0;
  uint64_t appends_count_ = 0;
  uint64_t last_activity_ms_ = 0;
  uint64_t born_ms_ = 0;
  uint64_t handshake_start_ns_ = 0;         // the client's first TLS byte (uv_hrtime); 0: none yet
  uint64_t pending_deadline_ms_ = 0;        // pending_end_ at the latest
  uint64_t poll_deadline_ms_ = 0;           // an emulated IDLE's next poll; 0: none
  uint32_t backend_index_ = 0;              // the backend being tried or used
  uint16_t client_port_ = 0;                // the peer's port (its address is slot_'s)
  bool client_v6_ = false;                  // ... and the peer is IPv6
  std::optional<CloseReason> pending_end_;  // lifetime or shutdown, waiting for quiet
  std::optional<CloseReason> reason_;
  Phase phase_ = Phase::kHandshake;
  bool logout_seen_ = false;  // before TLS (afterwards the conversation knows)
  bool pumping_ = false;
};

}  // namespace imapfront
