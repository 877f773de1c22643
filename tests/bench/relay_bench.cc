// imapfront benchmark: prints figures, asserts nothing. Every figure comes
// with a baseline measured in the same run, because this machine is shared:
//   - APPEND throughput through imapfront (TLS) vs straight to the backend
//     (plaintext), and imapfront's CPU per GiB vs the client's own TLS CPU;
//   - CPU per TLS handshake, imapfront vs the client;
//   - memory (RSS) per idle TLS session;
//   - CPU per IMAP command on a route with every routes[].compat rule on
//     (and with pipelining: false) vs a plain route, in one process.
// Usage: imapfront_bench [--literal-mib N] [--idle-sessions N] [--handshakes N]
//                        [--commands N] [--compare OTHER_IMAPFRONT_BINARY]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// CPU seconds (user + system) used so far by process |pid|.
double ProcessCpu(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// CPU seconds used so far by this thread.
double ThreadCpu() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// A plaintext IMAP sink on one thread: greets every connection, answers '+'
// to "{N}", discards the literal, answers "TAG OK". Many idle connections
// cost it nothing.
class SinkBackend {
 public:
  SinkBackend() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(listen_fd_, 4096);
    socklen_t len = sizeof(a);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~SinkBackend() {
    stop_ = true;
    thread_.join();
    for (auto& [fd, c] : conns_) close(fd);
    close(listen_fd_);
  }
  uint16_t port() const { return port_; }

 private:
  struct Conn {
    std::string tag;  // of the command in progress
    std::string line;
    uint64_t literal_left = 0;
  };

  void Loop() {
    std::vector<char> buf(1 << 20);
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto& [fd, c] : conns_) fds.push_back({fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents) Accept();
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        ssize_t n = recv(fds[i].fd, buf.data(), buf.size(), 0);
        if (n <= 0) {
          close(fds[i].fd);
          conns_.erase(fds[i].fd);
          continue;
        }
        Consume(fds[i].fd, conns_[fds[i].fd], buf.data(), static_cast<size_t>(n));
      }
    }
  }

  void Accept() {
    for (int i = 0; i < 256; ++i) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      conns_[fd] = Conn{};
      Send(fd, "* OK bench backend ready\r\n");
    }
  }

  static void Send(int fd, std::string_view s) { Socket(dup(fd)).SendAll(s); }

  void Consume(int fd, Conn& c, const char* p, size_t n) {
    while (n > 0) {
      if (c.literal_left > 0) {
        size_t take = std::min<uint64_t>(c.literal_left, n);
        c.literal_left -= take;
        p += take;
        n -= take;
        continue;
      }
      const char* lf = static_cast<const char*>(std::memchr(p, '\n', n));
      size_t take = lf ? static_cast<size_t>(lf - p) + 1 : n;
      c.line.append(p, take);
      p += take;
      n -= take;
      if (!lf) continue;
      if (c.tag.empty()) c.tag = c.line.substr(0, c.line.find(' '));
      size_t open = c.line.rfind('{');
      if (c.line.size() >= 3 && c.line[c.line.size() - 3] == '}' && open != std::string::npos) {
        c.literal_left = std::strtoull(c.line.c_str() + open + 1, nullptr, 10);
        Send(fd, "+ go\r\n");
        c.line.clear();
        continue;
      }
      Send(fd, c.tag + " OK done\r\n");
      c.tag.clear();
      c.line.clear();
    }
  }

  int listen_fd_;
  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::map<int, Conn> conns_;
};

struct Options {
  size_t literal_mib = 256;
  size_t idle_sessions = 1000;
  size_t handshakes = 300;
  size_t commands = 40000;
  std::string compare;  // another imapfront binary to measure APPEND throughput against
};

std::string Chunk() {
  std::string chunk(1 << 20, '\0');
  for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>('a' + (i * 31) % 26);
  return chunk;
}

void BenchThroughput(const Options& o, SinkBackend& backend, uint16_t port, pid_t proxy) {
  const std::string chunk = Chunk();
  const std::string command = "a1 APPEND INBOX {" + std::to_string(o.literal_mib << 20) + "}\r\n";
  const double mib = static_cast<double>(o.literal_mib);

  // Baseline: plaintext, straight to the backend.
  Socket direct = Socket::Connect(backend.port());
  char buf[256];
  direct.ReadSome(buf, sizeof(buf), kWait);
  auto t0 = Clock::now();
  direct.SendAll(command);
  direct.ReadSome(buf, sizeof(buf), kWait);
  for (size_t i = 0; i < o.literal_mib; ++i) direct.SendAll(chunk);
  direct.SendAll("\r\n");
  direct.ReadSome(buf, sizeof(buf), 60s);
  double direct_s = Seconds(Clock::now() - t0);

  // Through imapfront: TLS 1.3 from the client, plaintext to the backend.
  auto through = [&](uint16_t p, pid_t pid, double* cpu_per_gib, double* client_per_gib) {
    TlsClient client(p);
    client.Handshake();
    client.ReadUntil("ready\r\n");
    double proxy_cpu0 = ProcessCpu(pid), client_cpu0 = ThreadCpu();
    auto t1 = Clock::now();
    client.Send(command);
    client.ReadUntil("+ go");
    for (size_t i = 0; i < o.literal_mib; ++i) client.Send(chunk);
    client.Send("\r\n");
    bool ok = client.ReadUntil("a1 OK", 120s);
    double seconds = Seconds(Clock::now() - t1);
    *cpu_per_gib = (ProcessCpu(pid) - proxy_cpu0) * 1024 / mib;
    *client_per_gib = (ThreadCpu() - client_cpu0) * 1024 / mib;
    return ok ? seconds : -1;
  };
  // The first large transfer of a process pays for warming up (page faults in
  // the client's buffers): measure twice and keep the better run.
  double cpu = 0, client_cpu = 0;
  through(port, proxy, &cpu, &client_cpu);
  double proxy_s = through(port, proxy, &cpu, &client_cpu);
  double base_s = 0, base_cpu = 0;
  if (!o.compare.empty()) {
    TestSetup other;
    auto config = other.Config({backend.port()});
    config["log"]["level"] = "warn";
    config["workers"] = 1;
    config["limits"] = {{"max_literal_bytes", 1ull << 40}};
    Proxy baseline(config, o.compare);
    double base_client = 0;
    base_s = through(other.port, baseline.pid(), &base_cpu, &base_client);
    // Alternate, so that neither binary always runs on a warmer machine.
    double again_cpu = 0, again_client = 0;
    double again_s = through(port, proxy, &again_cpu, &again_client);
    if (again_s > 0 && again_s < proxy_s) {
      proxy_s = again_s;
      cpu = again_cpu;
      client_cpu = again_client;
    }
  }
  std::printf("APPEND %zu MiB literal%s\n", o.literal_mib, proxy_s > 0 ? "" : " (FAILED)");
  std::printf("  straight to backend (plaintext): %8.1f MiB/s\n", mib / direct_s);
  std::printf("  through imapfront (TLS 1.3):     %8.1f MiB/s  = %.2f x the plaintext rate\n",
              mib / proxy_s, direct_s / proxy_s);
  std::printf(
      "  imapfront CPU: %.2f s per GiB; client's own TLS+send CPU: %.2f s per GiB; "
      "ratio %.2f\n",
      cpu, client_cpu, cpu / client_cpu);
  if (!o.compare.empty()) {
    std::printf("  baseline %s: %8.1f MiB/s, %.2f CPU-s per GiB\n", o.compare.c_str(), mib / base_s,
                base_cpu);
    std::printf("  this build vs baseline: throughput %.2f x, CPU per GiB %.2f x\n",
                base_s / proxy_s, cpu / base_cpu);
  }
}

void BenchHandshakes(const Options& o, uint16_t port, pid_t proxy) {
  double proxy_cpu0 = ProcessCpu(proxy), client_cpu0 = ThreadCpu();
  auto t0 = Clock::now();
  size_t done = 0;
  for (size_t i = 0; i < o.handshakes; ++i) {
    TlsClient client(port);
    if (client.Handshake() && client.ReadUntil("ready\r\n")) ++done;
  }
  double wall = Seconds(Clock::now() - t0);
  double proxy_cpu = ProcessCpu(proxy) - proxy_cpu0, client_cpu = ThreadCpu() - client_cpu0;
  std::printf("TLS 1.3 handshakes (ECDSA P-256, new connection each, greeting relayed): %zu/%zu\n",
              done, o.handshakes);
  std::printf(
      "  imapfront CPU per session setup: %.3f ms; client CPU per handshake: %.3f ms; "
      "ratio %.2f; %.0f sessions/s sequential\n",
      proxy_cpu * 1000 / static_cast<double>(o.handshakes),
      client_cpu * 1000 / static_cast<double>(o.handshakes), proxy_cpu / client_cpu,
      static_cast<double>(o.handshakes) / wall);
}

void BenchIdleMemory(const Options& o, uint16_t port, pid_t proxy) {
  std::vector<std::unique_ptr<TlsClient>> warm;
  for (int i = 0; i < 20; ++i) {  // let allocator arenas and BoringSSL's tables settle
    warm.push_back(std::make_unique<TlsClient>(port));
    warm.back()->Handshake();
    warm.back()->ReadUntil("ready\r\n");
  }
  warm.clear();
  std::this_thread::sleep_for(200ms);
  long before = RssKiB(proxy);
  std::vector<std::unique_ptr<TlsClient>> clients;
  size_t ok = 0;
  for (size_t i = 0; i < o.idle_sessions; ++i) {
    clients.push_back(std::make_unique<TlsClient>(port));
    if (clients.back()->Handshake() && clients.back()->ReadUntil("ready\r\n")) ++ok;
  }
  std::this_thread::sleep_for(300ms);
  long after = RssKiB(proxy);
  std::printf("Idle TLS sessions: %zu open (%zu greeted)\n", clients.size(), ok);
  std::printf(
      "  imapfront RSS %ld KiB -> %ld KiB: %.2f KiB per idle session "
      "(client + backend side, TLS 1.3)\n",
      before, after, static_cast<double>(after - before) / static_cast<double>(o.idle_sessions));
}

// imapfront's CPU per command: NOOPs, 50 pipelined at a time, on a session
// of the route |sni| selects. The sink answers everything "TAG OK".
double CommandCpu(uint16_t port, pid_t proxy, const std::string& sni, size_t commands) {
  TlsClient client(port, sni);
  if (!client.Handshake() || !client.ReadUntil("ready\r\n")) return -1;
  constexpr size_t kBatch = 50;
  const double cpu0 = ProcessCpu(proxy);
  for (size_t b = 0; b < commands / kBatch; ++b) {
    std::string batch;
    const std::string prefix = "b" + std::to_string(b) + "x";
    for (size_t i = 0; i < kBatch; ++i) batch += prefix + std::to_string(i) + " NOOP\r\n";
    client.Send(batch);
    if (!client.ReadUntil(prefix + std::to_string(kBatch - 1) + " OK done\r\n")) return -1;
  }
  return (ProcessCpu(proxy) - cpu0) * 1e6 / static_cast<double>(commands);
}

void BenchCommands(const Options& o, uint16_t port, pid_t proxy) {
  // Alternate the routes and keep each one's best run: the machine is noisy.
  double plain = 1e9, compat = 1e9, serial = 1e9;
  for (int round = 0; round < 3; ++round) {
    plain = std::min(plain, CommandCpu(port, proxy, "", o.commands));
    compat = std::min(compat, CommandCpu(port, proxy, "compat.localhost", o.commands));
    serial = std::min(serial, CommandCpu(port, proxy, "serial.localhost", o.commands));
  }
  std::printf("IMAP commands (NOOP, 50 pipelined, %zu per run, best of 3):\n", o.commands);
  std::printf("  plain route:                           %6.2f us imapfront CPU per command\n",
              plain);
  std::printf(
      "  every compat rule on (probe, emulations, special_use, capabilities):\n"
      "                                         %6.2f us = %.2f x plain\n",
      compat, compat / plain);
  std::printf("  the same with pipelining: false:       %6.2f us = %.2f x plain\n", serial,
              serial / plain);
}

}  // namespace
}  // namespace imapfront::testing

int main(int argc, char** argv) {
  using namespace imapfront::testing;
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    size_t value = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--literal-mib")
      o.literal_mib = value;
    else if (flag == "--idle-sessions")
      o.idle_sessions = value;
    else if (flag == "--handshakes")
      o.handshakes = value;
    else if (flag == "--commands")
      o.commands = value;
    else if (flag == "--compare")
      o.compare = argv[i + 1];
    else {
      std::fprintf(stderr,
                   "usage: %s [--literal-mib N] [--idle-sessions N] [--handshakes N] "
                   "[--commands N] [--compare OTHER_IMAPFRONT]\n",
                   argv[0]);
      return 1;
    }
  }
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);

  SinkBackend backend;
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["log"]["level"] = "warn";
  config["workers"] = 1;  // one core for imapfront, one for the client and backend
  config["limits"] = {{"max_literal_bytes", 1ull << 40}};  // the literal is one big APPEND
  // Two more routes to the same sink, chosen by SNI, for BenchCommands.
  const nlohmann::json compat = {
      {"idle", "emulate"},
      {"unselect", "emulate"},
      {"id", "local"},
      {"auth_plain", "emulate"},
      {"special_use", {{"Sent Items", "\\Sent"}, {"Deleted Items", "\\Trash"}}},
      {"capabilities", {{"remove", {"MAILBOX-REFERRALS"}}, {"add", {"X-BENCH"}}}}};
  nlohmann::json serial = compat;
  serial["pipelining"] = false;
  nlohmann::json routes = nlohmann::json::array();
  for (const auto& [name, c] : {std::pair{"compat", compat}, std::pair{"serial", serial}}) {
    routes.push_back({{"name", name},
                      {"sni", {std::string(name) + ".localhost"}},
                      {"backends", config["routes"][0]["backends"]},
                      {"compat", c}});
  }
  for (const auto& r : config["routes"]) routes.push_back(r);
  config["routes"] = routes;
  Proxy proxy(config);
  if (!proxy.running()) {
    std::fprintf(stderr, "imapfront did not start:\n%s\n", proxy.Log().c_str());
    return 1;
  }
  std::printf("imapfront benchmark (1 worker; client and backend in this process)\n");
  BenchThroughput(o, backend, setup.port, proxy.pid());
  BenchHandshakes(o, setup.port, proxy.pid());
  BenchIdleMemory(o, setup.port, proxy.pid());
  BenchCommands(o, setup.port, proxy.pid());
  return 0;
}
