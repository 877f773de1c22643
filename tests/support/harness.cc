#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <unistd.h>
#include <mutex>
#include <set>

#include <cstring>
#include <fstream>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace imapfront::testing {
namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

// The kernel may hand the same free port out twice in a row (it is free
// again once we close it), and a setup that asks for two ports (a listener
// and the stats endpoint) would then get one: never repeat a port in one
// process.
uint16_t FreePort() {
  static std::mutex mu;
  static std::set<uint16_t> given;
  std::lock_guard<std::mutex> lock(mu);
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = Loopback(0);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    const uint16_t port = ntohs(a.sin_port);
    if (given.insert(port).second) return port;
  }
}

bool WaitFor(const std::function<bool()>& done, Duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (int i = 0; i < 100000; ++i) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

// ---- Socket -----------------------------------------------------------------

Socket::~Socket() {
  Close();
}

Socket& Socket::operator=(Socket&& o) noexcept {
  Close();
  fd_ = std::exchange(o.fd_, -1);
  return *this;
}

Socket Socket::Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return Socket();
  }
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return Socket(fd);
}

bool Socket::SendAll(std::string_view data, Duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (!data.empty()) {
    ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    pollfd p{fd_, POLLOUT, 0};
    if (poll(&p, 1, RemainingMs(deadline)) <= 0) return false;
  }
  return true;
}

ssize_t Socket::ReadSome(char* buf, size_t len, Duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    ssize_t n = recv(fd_, buf, len, 0);
    if (n >= 0) return n;
    if (errno == ECONNRESET) return 0;
    if (errno != EAGAIN && errno != EINTR) return -1;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, RemainingMs(deadline)) <= 0) return -1;
  }
}

void Socket::ShutdownWrite() {
  shutdown(fd_, SHUT_WR);
}

void Socket::Reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  Close();
}

void Socket::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

// ---- Transcript / BackendConnection ------------------------------------------

void Transcript::Append(const char* data, size_t len) {
  std::lock_guard<std::mutex> lock(mu_);
  bytes_.append(data, len);
}

std::string Transcript::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

size_t Transcript::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_.size();
}

bool BackendConnection::ReadMore(Duration timeout) {
  if (eof_) return false;
  char buf[65536];
  ssize_t n = socket_.ReadSome(buf, sizeof(buf), timeout);
  if (n == 0) eof_ = true;
  if (n <= 0) return false;
  transcript_->Append(buf, static_cast<size_t>(n));
  return true;
}

bool BackendConnection::ReadUntil(std::string_view needle, Duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (transcript_->Get().find(needle) == std::string::npos) {
    if (!ReadMore(Duration(RemainingMs(deadline)))) return false;
  }
  return true;
}

bool BackendConnection::ReadBytes(size_t total, Duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (transcript_->size() < total) {
    if (!ReadMore(Duration(RemainingMs(deadline)))) return false;
  }
  return true;
}

bool BackendConnection::WaitEof(Duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (!eof_) {
    if (!ReadMore(Duration(RemainingMs(deadline))) && !eof_) return false;
  }
  return true;
}

// ---- ScriptedBackend --------------------------------------------------------

ScriptedBackend::ScriptedBackend(Script script) : script_(std::move(script)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int on = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  sockaddr_in a = Loopback(0);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      listen(listen_fd_, 128) != 0) {
    throw std::runtime_error("backend: cannot listen");
  }
  socklen_t len = sizeof(a);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

ScriptedBackend::~ScriptedBackend() {
  stop_ = true;
  acceptor_.join();
  for (std::thread& t : workers_) t.join();  // scripts end by their own deadlines
  close(listen_fd_);
}

void ScriptedBackend::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    auto transcript = std::make_shared<Transcript>();
    std::lock_guard<std::mutex> lock(mu_);
    transcripts_.push_back(transcript);
    ++accepted_;
    workers_.emplace_back([this, fd, transcript] {
      BackendConnection c(Socket(fd), transcript);
      script_(c);
      ++finished_;
    });
  }
}

std::string ScriptedBackend::received(size_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return i < transcripts_.size() ? transcripts_[i]->Get() : std::string();
}

bool ScriptedBackend::WaitScriptsDone(Duration timeout) {
  return WaitFor([&] { return finished_.load() == accepted_.load(); }, timeout);
}

// ---- TlsClient --------------------------------------------------------------

TlsClient::TlsClient(uint16_t port, std::string sni, uint16_t max_version)
    : TlsClient(Socket::Connect(port), std::move(sni), max_version) {}

TlsClient::TlsClient(Socket socket, std::string sni, uint16_t max_version)
    : socket_(std::move(socket)), ctx_(SSL_CTX_new(TLS_method())) {
  SSL_CTX_set_session_cache_mode(ctx_.get(), SSL_SESS_CACHE_CLIENT);
  SSL_CTX_sess_set_new_cb(ctx_.get(), [](SSL* ssl, SSL_SESSION* session) {
    static_cast<TlsClient*>(SSL_get_app_data(ssl))->ticket_.reset(session);
    return 1;  // ours now
  });
  SSL_CTX_set_max_proto_version(ctx_.get(), max_version);
  ssl_.reset(SSL_new(ctx_.get()));
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl_.get(), rbio_, wbio_);
  SSL_set_connect_state(ssl_.get());
  SSL_set_app_data(ssl_.get(), this);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl_.get(), sni.c_str());
}

TlsClient::~TlsClient() = default;

bssl::UniquePtr<SSL_SESSION> TlsClient::Session() const {
  if (ticket_) {
    SSL_SESSION_up_ref(ticket_.get());
    return bssl::UniquePtr<SSL_SESSION>(ticket_.get());
  }
  return bssl::UniquePtr<SSL_SESSION>(SSL_get1_session(ssl_.get()));
}

int TlsClient::PeerKeyType() const {
  bssl::UniquePtr<X509> cert(SSL_get_peer_certificate(ssl_.get()));
  if (!cert) return 0;
  bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(cert.get()));
  return key ? EVP_PKEY_id(key.get()) : 0;
}

void TlsClient::OnlyRsa() {
  static const uint16_t kRsa[] = {SSL_SIGN_RSA_PSS_RSAE_SHA256, SSL_SIGN_RSA_PKCS1_SHA256};
  SSL_set_verify_algorithm_prefs(ssl_.get(), kRsa, 2);
}

void TlsClient::Verify(const std::string& root_pem_path, const std::string& host) {
  SSL_CTX_load_verify_locations(ctx_.get(), root_pem_path.c_str(), nullptr);
  SSL_set_verify(ssl_.get(), SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl_.get()), host.c_str(), host.size());
}

void TlsClient::SignatureSchemes(const std::vector<uint16_t>& schemes) {
  SSL_set_verify_algorithm_prefs(ssl_.get(), schemes.data(), schemes.size());
}

std::string TlsClient::cipher() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_.get());
  return c ? SSL_CIPHER_standard_name(c) : "";
}

std::string TlsClient::OcspResponse() const {
  const uint8_t* data = nullptr;
  size_t len = 0;
  SSL_get0_ocsp_response(ssl_.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

void TlsClient::CipherList(const char* list) {
  SSL_set_strict_cipher_list(ssl_.get(), list);
}

std::string TlsClient::PeerCommonName() const {
  bssl::UniquePtr<X509> cert(SSL_get_peer_certificate(ssl_.get()));
  if (!cert) return "";
  char cn[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof(cn));
  return cn;
}

std::string TlsClient::TakeCiphertext() {
  const uint8_t* data;
  size_t len;
  BIO_mem_contents(wbio_, &data, &len);
  std::string out(reinterpret_cast<const char*>(data), len);
  BIO_reset(wbio_);
  return out;
}

size_t TlsClient::Drain() {
  if (!SSL_is_init_finished(ssl_.get())) return 0;
  size_t before = received_.size();
  char buf[65536];
  for (;;) {
    int r = SSL_read(ssl_.get(), buf, sizeof(buf));
    if (r > 0) {
      received_.append(buf, static_cast<size_t>(r));
      continue;
    }
    if (SSL_get_error(ssl_.get(), r) == SSL_ERROR_ZERO_RETURN) eof_ = true;
    ERR_clear_error();
    break;
  }
  // Post-handshake messages may need an answer (KeyUpdate); send it.
  std::string out = TakeCiphertext();
  if (!out.empty()) socket_.SendAll(out);
  return received_.size() - before;
}

bool TlsClient::ReadMore(Duration timeout) {
  // What the library already holds comes first; the socket only after.
  if (Drain() > 0) return true;
  if (eof_) return false;
  char buf[65536];
  ssize_t n = socket_.ReadSome(buf, sizeof(buf), timeout);
  if (n <= 0) {
    if (n == 0) eof_ = true;
    return false;
  }
  BIO_write(rbio_, buf, static_cast<int>(n));
  Drain();
  return true;
}

bool TlsClient::Handshake(const std::string& pipelined, Duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (int round = 0; round < 100; ++round) {
    int r = SSL_do_handshake(ssl_.get());
    if (r == 1) break;
    if (SSL_get_error(ssl_.get(), r) != SSL_ERROR_WANT_READ) return false;
    std::string out = std::exchange(preface_, std::string()) + TakeCiphertext();
    if (!out.empty() && !socket_.SendAll(out)) return false;
    if (!ReadMore(Duration(RemainingMs(deadline)))) return false;
  }
  if (!SSL_is_init_finished(ssl_.get())) return false;
  if (!pipelined.empty()) {
    SSL_write(ssl_.get(), pipelined.data(), static_cast<int>(pipelined.size()));
  }
  // The last flight (TLS 1.3: the client Finished) and any pipelined record
  // leave in one send().
  std::string out = TakeCiphertext();
  if (!out.empty() && !socket_.SendAll(out)) return false;
  return true;
}

bool TlsClient::Send(const std::vector<std::string>& pieces, Cut cut) {
  std::vector<std::string> records;
  for (const std::string& p : pieces) {
    if (SSL_write(ssl_.get(), p.data(), static_cast<int>(p.size())) != static_cast<int>(p.size())) {
      return false;
    }
    records.push_back(TakeCiphertext());
  }
  switch (cut) {
    case Cut::kOneSend: {
      std::string all;
      for (const std::string& r : records) all += r;
      return socket_.SendAll(all);
    }
    case Cut::kSendPerRecord:
      for (const std::string& r : records) {
        if (!socket_.SendAll(r)) return false;
        std::this_thread::sleep_for(20ms);
      }
      return true;
    case Cut::kSendPerByte:
      for (const std::string& r : records) {
        for (char c : r) {
          if (!socket_.SendAll(std::string_view(&c, 1))) return false;
          std::this_thread::sleep_for(200us);
        }
      }
      return true;
  }
  return false;
}

bool TlsClient::ReadUntil(std::string_view needle, Duration timeout) {
  auto deadline = Clock::now() + timeout;
  // Search only what arrived since the last miss: rescanning tens of MiB per
  // read is quadratic, and too slow under the sanitizers.
  size_t from = 0;
  while (received_.find(needle, from) == std::string::npos) {
    from = received_.size() >= needle.size() ? received_.size() - needle.size() + 1 : 0;
    if (!ReadMore(Duration(RemainingMs(deadline)))) {
      return received_.find(needle, from) != std::string::npos;
    }
  }
  return true;
}

bool TlsClient::WaitEof(Duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (!eof_) {
    if (!ReadMore(Duration(RemainingMs(deadline))) && !eof_) return false;
  }
  return true;
}

void TlsClient::SendCloseNotify() {
  SSL_shutdown(ssl_.get());
  socket_.SendAll(TakeCiphertext());
}

// ---- Proxy ------------------------------------------------------------------

Proxy::Proxy(nlohmann::json config, std::string binary, Environment env) {
  std::string dir = MakeTempDir();
  stats_port_ = FreePort();
  config["stats"] = {{"listen", "127.0.0.1:" + std::to_string(stats_port_)}};
  config_path_ = dir + "/imapfront.json";
  WriteFile(config_path_, config.dump(2));
  log_path_ = dir + "/imapfront.log";
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    dup2(fd, 1);
    for (const auto& [name, value] : env) {
      std::string v = value;
      struct stat st {};
      if (v == kStderrStream && fstat(2, &st) == 0) {
        v = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
      }
      setenv(name.c_str(), v.c_str(), 1);
    }
    execl(binary.c_str(), binary.c_str(), "--config", config_path_.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  bool up = WaitFor([&] {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return HttpGet(stats_port_, "/healthz").find("\r\n\r\nok") != std::string::npos;
  });
  if (!up || pid_ < 0) {
    std::string log = Log();
    Stop();
    FAIL("imapfront did not start:\n" << log);
  }
}

void Proxy::Signal(int signum) {
  if (pid_ > 0) kill(pid_, signum);
}

int Proxy::WaitExit(Duration timeout) {
  if (pid_ <= 0) return -1;
  int status = 0;
  if (!WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout)) return -1;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void Proxy::Reload(nlohmann::json config, uint16_t stats_port) {
  if (stats_port) stats_port_ = stats_port;
  if (!config.contains("stats"))
    config["stats"] = {{"listen", "127.0.0.1:" + std::to_string(stats_port_)}};
  WriteFile(config_path_, config.dump(2));
  kill(pid_, SIGHUP);
}

Proxy::~Proxy() {
  if (pid_ <= 0) return;
  // A clean exit also means no sanitizer report (leaks included) at exit.
  int code = Stop();
  CHECK_MESSAGE(code == 0, "imapfront exited with " << code << "; its log:\n" << Log());
}

int Proxy::Stop(Duration timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  bool exited = WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
  if (!exited) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

nlohmann::json Proxy::Stats() {
  std::string response = HttpGet(stats_port_, "/stats");
  size_t body = response.find("\r\n\r\n");
  REQUIRE(body != std::string::npos);
  return nlohmann::json::parse(response.substr(body + 4));
}

nlohmann::json TestSetup::Config(const std::vector<uint16_t>& backend_ports) const {
  nlohmann::json backends = nlohmann::json::array();
  for (uint16_t p : backend_ports) backends.push_back("127.0.0.1:" + std::to_string(p));
  return {
      {"workers", 2},
      {"log", {{"level", "debug"}}},
      {"tls", {{"certificates", {{{"cert", cert.cert_path}, {"key", cert.key_path}}}}}},
      {"listeners",
       {{{"name", "imaps"},
         {"listen", "127.0.0.1:" + std::to_string(port)},
         {"mode", "implicit_tls"}}}},
      {"routes", {{{"name", "default"}, {"backends", backends}}}},
  };
}

// ---- helpers ----------------------------------------------------------------

CommandResult RunCommand(const std::vector<std::string>& argv, Duration timeout) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  CommandResult result;
  auto deadline = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    pollfd p{pipefd[0], POLLIN, 0};
    if (poll(&p, 1, RemainingMs(deadline)) <= 0) break;
    ssize_t n = read(pipefd[0], buf, sizeof(buf));
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  if (!WaitFor([&] { return waitpid(pid, &status, WNOHANG) == pid; }, 2s)) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return result;
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

long RssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::string HttpGet(uint16_t port, const std::string& path) {
  Socket s = Socket::Connect(port);
  if (!s.valid()) return "";
  if (!s.SendAll("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 2s)) return "";
  std::string response;
  char buf[8192];
  for (int i = 0; i < 1000; ++i) {
    ssize_t n = s.ReadSome(buf, sizeof(buf), 2s);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  return response;
}

void CheckStatsInvariant(const nlohmann::json& stats) {
  auto check = [](const nlohmann::json& accepted, const nlohmann::json& active,
                  const nlohmann::json& closed) {
    uint64_t sum = 0;
    for (const auto& [reason, count] : closed.items()) sum += count.get<uint64_t>();
    CHECK(accepted.get<uint64_t>() == active.get<uint64_t>() + sum);
  };
  check(stats["connections"]["accepted"], stats["connections"]["active"], stats["closed"]);
  for (const auto& [name, route] : stats["routes"].items()) {
    check(route["accepted"], route["active"], route["closed"]);
  }
}

uint64_t ClosedCount(const nlohmann::json& stats, const std::string& reason) {
  return stats["closed"][reason].get<uint64_t>();
}

}  // namespace imapfront::testing
