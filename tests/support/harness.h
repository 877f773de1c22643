// End-to-end test harness: the real imapfront binary, a BoringSSL client that
// controls exactly how its TLS records are cut into socket writes, and a
// scripted plaintext backend that records every byte it receives. Every wait
// has a deadline; nothing here can block forever.
#pragma once

#include <openssl/base.h>
#include <openssl/ssl.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/test_certs.h"

namespace imapfront::testing {

using namespace std::chrono_literals;
using Duration = std::chrono::milliseconds;
constexpr Duration kWait = 10s;

// A port that was free a moment ago on 127.0.0.1.
uint16_t FreePort();

// Polls |done| every few milliseconds until it is true or |timeout| passes.
bool WaitFor(const std::function<bool()>& done, Duration timeout = kWait);

// A connected TCP socket whose every operation has a deadline.
class Socket {
 public:
  explicit Socket(int fd = -1) : fd_(fd) {}
  ~Socket();
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Socket& operator=(Socket&& o) noexcept;

  static Socket Connect(uint16_t port);
  bool valid() const { return fd_ >= 0; }
  bool SendAll(std::string_view data, Duration timeout = kWait);
  // >0 bytes read, 0 end of stream, -1 timeout or error.
  ssize_t ReadSome(char* buf, size_t len, Duration timeout);
  void ShutdownWrite();
  void Reset();  // RST instead of FIN
  void Close();

 private:
  int fd_;
};

// Something that reads into a shared transcript, for the two peers below.
class Transcript {
 public:
  void Append(const char* data, size_t len);
  std::string Get() const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::string bytes_;
};

// One accepted backend connection, driven by a test's script on its own
// thread.
class BackendConnection {
 public:
  BackendConnection(Socket socket, std::shared_ptr<Transcript> transcript)
      : socket_(std::move(socket)), transcript_(std::move(transcript)) {}

  void Send(std::string_view bytes) { socket_.SendAll(bytes); }
  // Reads until everything received so far contains |needle|.
  bool ReadUntil(std::string_view needle, Duration timeout = kWait);
  // Reads until at least |total| bytes have been received in all.
  bool ReadBytes(size_t total, Duration timeout = kWait);
  // Reads until the peer closes; true if it did in time.
  bool WaitEof(Duration timeout = kWait);
  std::string received() const { return transcript_->Get(); }
  Socket& socket() { return socket_; }

 private:
  bool ReadMore(Duration timeout);

  Socket socket_;
  std::shared_ptr<Transcript> transcript_;
  bool eof_ = false;
};

// A plaintext IMAP server played by a script: one thread per connection.
class ScriptedBackend {
 public:
  using Script = std::function<void(BackendConnection&)>;
  explicit ScriptedBackend(Script script);
  ~ScriptedBackend();

  uint16_t port() const { return port_; }
  int connections() const { return static_cast<int>(accepted_.load()); }
  // What connection |i| (in accept order) received, all of it.
  std::string received(size_t i) const;
  // Waits until every connection's script has returned.
  bool WaitScriptsDone(Duration timeout = kWait);

 private:
  void AcceptLoop();

  Script script_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> finished_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Transcript>> transcripts_;
  std::vector<std::thread> workers_;
};

// A TLS client over BoringSSL with memory BIOs: it decides how the records
// it produces are cut into socket writes.
class TlsClient {
 public:
  enum class Cut {
    kOneSend,        // every record of the call coalesced into one send()
    kSendPerRecord,  // one send() per record, with a pause between
    kSendPerByte,    // one send() per ciphertext byte
  };

  explicit TlsClient(uint16_t port, std::string sni = "", uint16_t max_version = TLS1_3_VERSION);
  // Over a connection that already spoke plaintext (after STARTTLS).
  explicit TlsClient(Socket socket, std::string sni = "", uint16_t max_version = TLS1_3_VERSION);
  ~TlsClient();

  // Before Handshake: |bytes| go in front of the ClientHello, in the same
  // send() (the rest of a PROXY header, coalesced with the first flight).
  void Preface(std::string bytes) { preface_ = std::move(bytes); }
  // Completes the handshake. |pipelined| plaintext, if any, is sealed and
  // sent in the same send() as the handshake's last flight.
  bool Handshake(const std::string& pipelined = "", Duration timeout = kWait);
  // Seals each piece as its own record and sends them as |cut| says.
  bool Send(const std::vector<std::string>& pieces, Cut cut = Cut::kOneSend);
  bool Send(const std::string& text) { return Send(std::vector<std::string>{text}); }
  // Reads until the plaintext received so far contains |needle|.
  bool ReadUntil(std::string_view needle, Duration timeout = kWait);
  // Reads until close_notify or end of stream.
  bool WaitEof(Duration timeout = kWait);
  const std::string& received() const { return received_; }
  std::string version() const { return SSL_get_version(ssl_.get()); }
  // The negotiated suite's standard name ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256").
  std::string cipher() const;
  // Before Handshake: ask for a stapled OCSP response; after: what came ("" if none).
  void RequestOcsp() { SSL_enable_ocsp_stapling(ssl_.get()); }
  std::string OcspResponse() const;
  // The server certificate's common name and key type (EVP_PKEY_EC, ...).
  std::string PeerCommonName() const;
  int PeerKeyType() const;
  // Before Handshake: accept only RSA signatures from the server.
  void OnlyRsa();
  // Before Handshake: offer only these signature schemes / TLS 1.2 suites.
  void SignatureSchemes(const std::vector<uint16_t>& schemes);
  void CipherList(const char* list);
  // Before Handshake: verify the server's chain up to |root_pem_path| and
  // its name.
  void Verify(const std::string& root_pem_path, const std::string& host);
  // For resumption: the session to offer (before Handshake) and the one got.
  void OfferSession(SSL_SESSION* session) { SSL_set_session(ssl_.get(), session); }
  // The newest resumable session: in TLS 1.3 it arrives as a ticket after
  // the handshake, so read something first.
  bssl::UniquePtr<SSL_SESSION> Session() const;
  bool Resumed() const { return SSL_session_reused(ssl_.get()); }

  void SendCloseNotify();
  Socket& socket() { return socket_; }

 private:
  std::string TakeCiphertext();
  bool ReadMore(Duration timeout);
  size_t Drain();

  Socket socket_;
  bssl::UniquePtr<SSL_CTX> ctx_;
  bssl::UniquePtr<SSL> ssl_;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;
  std::string received_;
  bool eof_ = false;
  bssl::UniquePtr<SSL_SESSION> ticket_;  // from the new-session callback
  std::string preface_;                  // sent before the ClientHello
};

// A running imapfront process.
class Proxy {
 public:
  // Writes |config| to a temp file and starts the binary; waits for
  // /healthz. Test-only knobs: stats.listen is filled in.
  // Variables set for imapfront. The value kStderrStream becomes stderr's
  // "DEVICE:INODE" (what systemd puts in JOURNAL_STREAM).
  using Environment = std::vector<std::pair<std::string, std::string>>;
  static constexpr const char* kStderrStream = "@stderr-device:inode";
  explicit Proxy(nlohmann::json config, std::string binary = IMAPFRONT_BINARY,
                 Environment env = {});
  ~Proxy();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  uint16_t stats_port() const { return stats_port_; }
  nlohmann::json Stats();
  // SIGTERM, then waits; returns the exit code (or -1 if it had to be killed).
  int Stop(Duration timeout = kWait);
  std::string Log() const { return ReadFile(log_path_); }
  void Signal(int signum);
  // Waits for the process to exit by itself; returns its exit code or -1.
  int WaitExit(Duration timeout = kWait);
  // Rewrites the config file and sends SIGHUP. stats.listen is the running
  // one unless |config| has its own "stats"; |stats_port| (if not 0) is where
  // stats_port() looks from now on.
  void Reload(nlohmann::json config, uint16_t stats_port = 0);
  const std::string& config_path() const { return config_path_; }

 private:
  std::string config_path_;
  pid_t pid_ = -1;
  uint16_t stats_port_ = 0;
  std::string log_path_;
};

// The certificate and a config skeleton shared by the end-to-end tests:
// one implicit-TLS listener "imaps" on |port| and one route "default".
struct TestSetup {
  std::string dir = MakeTempDir();
  TestCert cert = MakeTestCert(dir, "server", {"localhost"});
  uint16_t port = FreePort();

  nlohmann::json Config(const std::vector<uint16_t>& backend_ports) const;
};

// Runs a command line with a timeout; returns exit code and output.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::vector<std::string>& argv, Duration timeout = kWait);

// Resident memory of process |pid| in KiB, or -1.
long RssKiB(pid_t pid);

std::string HttpGet(uint16_t port, const std::string& path);
// accepted == active + sum(closed), for the whole and for every route.
void CheckStatsInvariant(const nlohmann::json& stats);
uint64_t ClosedCount(const nlohmann::json& stats, const std::string& reason);

}  // namespace imapfront::testing
