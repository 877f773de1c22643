// imapfront_sink: the plaintext IMAP backend of the side-by-side benchmark
// (the shared harness's sink, in C++). It answers just enough IMAP, as cheaply
// as it can, never to be the bottleneck:
//   connect                  "* OK ready"
//   every command line       "TAG OK done"
//   a line ending in {N}     "+ go ahead", N literal bytes counted and
//                            discarded, the rest of the command, then
//                            "TAG OK APPEND completed"; {N+} without the "+"
//   LOGIN (also literals)    "TAG OK LOGIN completed"
//   CAPABILITY / ID          one untagged line and the tagged OK
//   LOGOUT                   "* BYE" and the tagged OK; then the sink closes
// T threads, each with its own SO_REUSEPORT listener and level-triggered epoll
// loop. Per connection it keeps ~100 bytes; line and output buffers exist only
// while a partial line or unsent output does, so 100,000+ idle connections
// are cheap. SIGUSR1 prints the totals; SIGTERM/SIGINT print them and exit 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr size_t kReadBuf = 256 * 1024;
constexpr size_t kOutHigh = 256 * 1024;  // stop reading while this much is unsent
constexpr size_t kLineCap = 8192;        // longer lines keep head and tail only

struct Options {
  int port = 21143;
  int threads = 2;
  std::string bind = "127.0.0.1";
};
Options opt;
in_addr bind_addr{};

struct alignas(64) Counters {
  std::atomic<int64_t> conns{0}, open{0}, bytes{0}, literal_bytes{0}, commands{0}, appends{0};
};
std::unique_ptr<Counters[]> counters;

enum class Cmd : uint8_t { kOther, kLogin, kLogout, kCapability, kId };

struct Conn {
  int fd = -1;
  uint32_t interest = 0;
  bool listener = false;
  bool in_cmd = false;       // inside a command, after one of its literals
  bool had_literal = false;  // the command so far had a literal
  bool closing = false;      // LOGOUT answered: close once the output is sent
  Cmd cmd = Cmd::kOther;
  int64_t lit_left = 0;  // literal bytes still to discard
  std::string tag;       // of the command in progress (across literals)
  std::string partial;   // an incomplete line; empty (no heap) otherwise
  std::string out;       // unsent output; empty (no heap) otherwise
  size_t outpos = 0;
};

int Listener() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("imapfront_sink: socket");
    exit(1);
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(opt.port));
  a.sin_addr = bind_addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || listen(fd, 65535) < 0) {
    perror("imapfront_sink: bind/listen");
    exit(1);
  }
  return fd;
}

void Release(std::string* s) {
  std::string().swap(*s);
}

// Queues output, sending at once when nothing is pending. False: drop.
bool Put(Conn* c, std::string_view s) {
  if (c->out.empty()) {
    ssize_t w = send(c->fd, s.data(), s.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w == static_cast<ssize_t>(s.size())) return true;
    if (w < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      w = 0;
    }
    s.remove_prefix(static_cast<size_t>(w));
    c->outpos = 0;
  }
  c->out.append(s);
  return true;
}

// 1: all sent; 0: more pending; -1: drop.
int Flush(Conn* c) {
  while (c->outpos < c->out.size()) {
    ssize_t w = send(c->fd, c->out.data() + c->outpos, c->out.size() - c->outpos,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
    c->outpos += static_cast<size_t>(w);
  }
  Release(&c->out);
  c->outpos = 0;
  return 1;
}

bool IEq(std::string_view a, const char* b) {
  return a.size() == strlen(b) && strncasecmp(a.data(), b, a.size()) == 0;
}

Cmd CmdOf(std::string_view name) {
  if (IEq(name, "LOGIN") || IEq(name, "AUTHENTICATE")) return Cmd::kLogin;
  if (IEq(name, "LOGOUT")) return Cmd::kLogout;
  if (IEq(name, "CAPABILITY")) return Cmd::kCapability;
  if (IEq(name, "ID")) return Cmd::kId;
  return Cmd::kOther;
}

// A complete line, without its CRLF. False: drop the connection.
bool OnLine(Counters* k, Conn* c, std::string_view l) {
  if (!c->in_cmd) {  // a new command: its tag and name
    size_t sp = l.find(' ');
    c->tag.assign(l.substr(0, std::min<size_t>(sp, 64)));
    std::string_view rest = sp == std::string_view::npos ? std::string_view() : l.substr(sp);
    size_t b = rest.find_first_not_of(' ');
    rest = b == std::string_view::npos ? std::string_view() : rest.substr(b);
    c->cmd = CmdOf(rest.substr(0, rest.find(' ')));
    c->had_literal = false;
  }
  // A literal at the end of the line: {N} or {N+}.
  if (l.size() >= 3 && l.back() == '}') {
    size_t end = l.size() - 1;
    bool plus = l[end - 1] == '+';
    size_t digits_end = plus ? end - 1 : end;
    size_t open = l.rfind('{', digits_end);
    if (open != std::string_view::npos && open + 1 < digits_end &&
        l.substr(open + 1, digits_end - open - 1).find_first_not_of("0123456789") ==
            std::string_view::npos) {
      c->lit_left =
          strtoll(std::string(l.substr(open + 1, digits_end - open - 1)).c_str(), nullptr, 10);
      c->in_cmd = c->had_literal = true;
      return plus || Put(c, "+ go ahead\r\n");
    }
  }
  c->in_cmd = false;
  k->commands.fetch_add(1, std::memory_order_relaxed);
  const std::string& t = c->tag.empty() ? std::string("*") : c->tag;
  std::string r;
  if (c->cmd == Cmd::kLogin) {  // nginx sends LOGIN with literals
    r = t + " OK LOGIN completed\r\n";
  } else if (c->had_literal) {
    k->appends.fetch_add(1, std::memory_order_relaxed);
    r = t + " OK APPEND completed\r\n";
  } else if (c->cmd == Cmd::kLogout) {
    r = "* BYE logging out\r\n" + t + " OK LOGOUT completed\r\n";
    c->closing = true;
  } else if (c->cmd == Cmd::kCapability) {
    r = "* CAPABILITY IMAP4rev1 LITERAL+\r\n" + t + " OK CAPABILITY completed\r\n";
  } else if (c->cmd == Cmd::kId) {
    r = "* ID NIL\r\n" + t + " OK ID completed\r\n";
  } else {
    r = t + " OK done\r\n";
  }
  if (!c->in_cmd) Release(&c->tag);
  return Put(c, r);
}

// Received bytes through the line/literal parser. False: drop.
bool Feed(Counters* k, Conn* c, const char* p, size_t n) {
  while (n > 0 && !c->closing) {  // after LOGOUT, input is ignored
    if (c->lit_left > 0) {
      size_t take = std::min(static_cast<size_t>(c->lit_left), n);
      c->lit_left -= static_cast<int64_t>(take);
      k->literal_bytes.fetch_add(static_cast<int64_t>(take), std::memory_order_relaxed);
      p += take;
      n -= take;
      continue;
    }
    const char* nl = static_cast<const char*>(memchr(p, '\n', n));
    size_t take = nl ? static_cast<size_t>(nl - p + 1) : n;
    std::string_view piece(p, take);
    p += take;
    n -= take;
    if (!nl || !c->partial.empty()) {
      c->partial.append(piece);
      if (c->partial.size() > kLineCap)  // keep the tag and command, and the {N}
        c->partial.erase(256, c->partial.size() - 256 - 64);
      if (!nl) continue;
      piece = c->partial;
    }
    while (!piece.empty() && (piece.back() == '\n' || piece.back() == '\r')) piece.remove_suffix(1);
    bool ok = OnLine(k, c, piece);
    Release(&c->partial);
    if (!ok) return false;
  }
  return true;
}

void SetInterest(int ep, Conn* c, uint32_t ev) {
  if (c->interest == ev) return;
  epoll_event e{};
  e.events = ev;
  e.data.ptr = c;
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
  c->interest = ev;
}

void Free(Counters* k, Conn* c) {
  close(c->fd);
  delete c;
  k->open.fetch_sub(1, std::memory_order_relaxed);
}

void ThreadMain(int index) {
  Counters* k = &counters[static_cast<size_t>(index)];
  int ep = epoll_create1(EPOLL_CLOEXEC);
  auto* ls = new Conn;
  ls->listener = true;
  ls->fd = Listener();
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.ptr = ls;
  epoll_ctl(ep, EPOLL_CTL_ADD, ls->fd, &e);
  std::unique_ptr<char[]> rbuf(new char[kReadBuf]);
  epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(evs[i].data.ptr);
      if (c->listener) {
        for (int a = 0; a < 64; ++a) {
          int fd = accept4(c->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto* nc = new Conn;
          nc->fd = fd;
          nc->interest = EPOLLIN;
          epoll_event ne{};
          ne.events = EPOLLIN;
          ne.data.ptr = nc;
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ne);
          k->open.fetch_add(1, std::memory_order_relaxed);
          k->conns.fetch_add(1, std::memory_order_relaxed);
          if (!Put(nc, "* OK ready\r\n")) {
            Free(k, nc);
            continue;
          }
          if (!nc->out.empty()) SetInterest(ep, nc, EPOLLOUT);
        }
        continue;
      }
      bool drop = false;
      if ((evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && Flush(c) < 0) drop = true;
      if (!drop && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !c->closing &&
          c->out.size() - c->outpos < kOutHigh) {
        for (int rounds = 0; rounds < 4; ++rounds) {
          ssize_t r = recv(c->fd, rbuf.get(), kReadBuf, 0);
          if (r > 0) {
            k->bytes.fetch_add(r, std::memory_order_relaxed);
            if (!Feed(k, c, rbuf.get(), static_cast<size_t>(r))) {
              drop = true;
              break;
            }
            if (c->closing || static_cast<size_t>(r) < kReadBuf) break;
            continue;
          }
          if (r == 0) {
            drop = true;
          } else if (errno == EINTR) {
            continue;
          } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            drop = true;
          }
          break;
        }
      }
      if (drop) {
        Free(k, c);
        continue;
      }
      size_t pending = c->out.size() - c->outpos;
      if (pending == 0 && c->closing) {
        Free(k, c);
        continue;
      }
      uint32_t want = 0;
      if (pending) want |= EPOLLOUT;
      if (!c->closing && pending < kOutHigh) want |= EPOLLIN;
      SetInterest(ep, c, want);
    }
  }
}

void PrintStats() {
  int64_t v[6] = {};
  for (int i = 0; i < opt.threads; ++i) {
    const Counters& k = counters[static_cast<size_t>(i)];
    v[0] += k.conns.load();
    v[1] += k.open.load();
    v[2] += k.bytes.load();
    v[3] += k.literal_bytes.load();
    v[4] += k.commands.load();
    v[5] += k.appends.load();
  }
  fprintf(stderr,
          "sink: port=%d conns_total=%lld open=%lld bytes_in=%lld literal_bytes=%lld "
          "commands=%lld appends=%lld\n",
          opt.port, static_cast<long long>(v[0]), static_cast<long long>(v[1]),
          static_cast<long long>(v[2]), static_cast<long long>(v[3]), static_cast<long long>(v[4]),
          static_cast<long long>(v[5]));
  fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"imapfront_sink: the side-by-side benchmark's plaintext IMAP sink"};
  app.add_option("-p", opt.port, "port")->required()->check(CLI::Range(1, 65535));
  app.add_option("-t", opt.threads, "threads (2)")->check(CLI::PositiveNumber);
  app.add_option("-b", opt.bind, "bind address (127.0.0.1)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (inet_pton(AF_INET, opt.bind.c_str(), &bind_addr) != 1) {
    fprintf(stderr, "imapfront_sink: bad bind address %s\n", opt.bind.c_str());
    return 2;
  }
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Signals go to sigwait() below only.
  sigset_t ss;
  sigemptyset(&ss);
  sigaddset(&ss, SIGTERM);
  sigaddset(&ss, SIGINT);
  sigaddset(&ss, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &ss, nullptr);
  signal(SIGPIPE, SIG_IGN);
  counters = std::make_unique<Counters[]>(static_cast<size_t>(opt.threads));
  for (int i = 0; i < opt.threads; ++i) std::thread(ThreadMain, i).detach();
  fprintf(stderr, "sink: listening %s:%d threads=%d pid=%d\n", opt.bind.c_str(), opt.port,
          opt.threads, static_cast<int>(getpid()));
  for (;;) {
    int sig = 0;
    sigwait(&ss, &sig);
    PrintStats();
    if (sig != SIGUSR1) break;
  }
  _exit(0);
}
