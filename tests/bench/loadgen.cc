// imapfront_loadgen: the IMAP-over-TLS load generator of the side-by-side
// benchmark (the shared harness's loadgen, rebuilt on BoringSSL). Same
// scenarios, same semantics, same RESULT keys, so its tables compare:
//   bulk       C sessions, each "a1 APPEND INBOX {N}", wait "+", N bytes, "\r\n",
//              wait "a1 OK"; all connected first, then started together.
//   small      C sessions, each K sequential "aI NOOP" -> "aI OK".
//   handshake  C slots, each repeatedly a new TCP + TLS session (no resumption):
//              greeting, [LOGIN], "a LOGOUT", OK, the server's close.
//   idle       M sessions opened and held; the proxy tree's RSS per session,
//              then a random sample of them is sent a NOOP (latency).
// T threads, each a level-triggered epoll loop over non-blocking sockets with
// one state machine per connection and its own SSL_CTX. Every run is bounded
// by --timeout. Output: human-readable lines, then one "RESULT key=value ..."
// line; exit status 0 only if every session succeeded.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/base.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#ifndef OPENSSL_IS_BORINGSSL
#error "imapfront_loadgen must be built against BoringSSL; the OpenSSL headers were found first"
#endif

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace {

enum Scenario { kBulk, kSmall, kHandshake, kIdle };
const char* const kScenarioNames[] = {"bulk", "small", "handshake", "idle"};

struct Options {
  int scenario = -1;
  std::string host = "127.0.0.1";
  int port = 10993;
  bool plain = false, login = false, fd_check = false;
  int conns = -1, threads = 0;
  int64_t bytes = 256ll << 20;
  int chunk = 16384;
  int cmds = 200;
  double duration = 10;
  int sessions = 5000, inflight = 64;
  double settle = 1, hold = 2, timeout = 120;
  int pid = 0, sink_pid = 0;
  int sources = 1;
  std::string label = "-";
};
Options opt;

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void Appendf(std::string* s, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Appendf(std::string* s, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) s->append(buf, std::min(static_cast<size_t>(n), sizeof buf - 1));
}

// ---- process-tree accounting (/proc) ----------------------------------------

double clk_tck = 100;

// utime+stime (seconds) and ppid from /proc/PID/stat.
bool ReadStat(int pid, int* ppid, double* cpu) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char* p = strrchr(buf, ')');
  if (!p || p[1] == 0) return false;
  p += 2;  // field 3: state
  unsigned long long ut = 0, st = 0;
  char* save = nullptr;
  int field = 3;
  for (char* tok = strtok_r(p, " ", &save); tok; tok = strtok_r(nullptr, " ", &save), ++field) {
    if (field == 4) {
      *ppid = atoi(tok);
    } else if (field == 14) {
      ut = strtoull(tok, nullptr, 10);
    } else if (field == 15) {
      st = strtoull(tok, nullptr, 10);
      break;
    }
  }
  *cpu = static_cast<double>(ut + st) / clk_tck;
  return true;
}

long ReadRssKb(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE* f = fopen(path, "r");
  if (!f) return 0;
  long kb = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "VmRSS:", 6)) {
      kb = atol(line + 6);
      break;
    }
  }
  fclose(f);
  return kb;
}

struct TreeStat {
  double cpu_s = 0;
  long rss_kb = 0;
  int nproc = 0;
};

// CPU and RSS summed over ROOT and its descendants (found through ppid).
TreeStat TreeStatOf(int root) {
  TreeStat ts;
  if (root <= 0) return ts;
  struct Proc {
    int pid;
    double cpu;
  };
  std::unordered_map<int, std::vector<Proc>> children;
  Proc self{root, -1};
  DIR* d = opendir("/proc");
  while (dirent* de = d ? readdir(d) : nullptr) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    int pid = atoi(de->d_name), ppid = 0;
    double cpu = 0;
    if (!ReadStat(pid, &ppid, &cpu)) continue;
    if (pid == root) self.cpu = cpu;
    children[ppid].push_back({pid, cpu});
  }
  if (d) closedir(d);
  if (self.cpu < 0) return ts;
  std::vector<Proc> todo{self};
  while (!todo.empty()) {
    Proc p = todo.back();
    todo.pop_back();
    ts.cpu_s += p.cpu;
    ts.rss_kb += ReadRssKb(p.pid);
    ++ts.nproc;
    auto it = children.find(p.pid);
    if (it != children.end()) todo.insert(todo.end(), it->second.begin(), it->second.end());
  }
  return ts;
}

double SelfCpu() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// Machine-wide busy CPU seconds (user+nice+system+irq+softirq) from /proc/stat.
double MachineBusy() {
  FILE* f = fopen("/proc/stat", "r");
  if (!f) return 0;
  unsigned long long u = 0, n = 0, s = 0, idle = 0, io = 0, irq = 0, sirq = 0;
  if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &u, &n, &s, &idle, &io, &irq, &sirq) !=
      7) {
    u = n = s = irq = sirq = 0;
  }
  fclose(f);
  return static_cast<double>(u + n + s + irq + sirq) / clk_tck;
}

struct Sample {
  double t = 0, self = 0, proxy = 0, sink = 0, busy = 0;
  long proxy_rss = 0, sink_rss = 0;
  int proxy_nproc = 0;
};

Sample TakeSample() {
  Sample s;
  TreeStat a = TreeStatOf(opt.pid), b = TreeStatOf(opt.sink_pid);
  s.proxy = a.cpu_s;
  s.proxy_rss = a.rss_kb;
  s.proxy_nproc = a.nproc;
  s.sink = b.cpu_s;
  s.sink_rss = b.rss_kb;
  s.self = SelfCpu();
  s.busy = MachineBusy();
  s.t = Now();
  return s;
}

// ---- connections -----------------------------------------------------------

enum State : uint8_t {
  kFree,
  kConnecting,
  kHandshaking,
  kGreeting,
  kLoginWait,
  kReady,
  kAppendCont,
  kAppendData,
  kAppendOk,
  kNoopWait,
  kLogoutWait,
  kEofWait,
  kHold,
  kSampleWait,
};

// step() results.
constexpr int kProgress = 0, kWantRead = -2, kWantWrite = -3, kEof = -4, kErr = -5, kPark = -6,
              kDone = -7;

constexpr int kInCap = 4096;
constexpr double kSampleOkSecs = 1.0;      // a sample NOOP answered later is not ok
constexpr double kSampleCutoffSecs = 5.0;  // ... and one not answered by then is given up

struct Conn {
  int fd = -1;
  int interest = -1;  // registered epoll events, -1: not registered
  SSL* ssl = nullptr;
  State state = kFree;
  // Reply bytes; allocated only while a reply is expected (idle holds many).
  std::unique_ptr<char[]> in;
  int inpos = 0, inlen = 0;
  int outpos = 0, outlen = 0;
  char out[96];
  char tag[16];
  int cmd_i = 0;
  int64_t remaining = 0;
  double t_cmd = 0, t_open = 0, t_deadline = 0;
};

enum Phase { kInit, kGo, kSample, kStop, kAbort };
std::atomic<int> g_phase{kInit};
std::atomic<int> g_ready{0}, g_workdone{0}, g_failed{0}, g_dropped{0}, g_sample_done{0};
std::atomic<bool> g_timed_out{false};
double g_deadline = 0;       // handshake: end of the window
double g_hard_deadline = 0;  // --timeout
std::vector<char> g_data;    // bulk filler, one chunk
sockaddr_in g_addr{};
std::mutex g_tls_mu;
std::string g_tlsinfo;  // of the first TLS session
std::atomic<int> g_err_printed{0};

struct Worker {
  int id = 0;
  std::thread th;
  int ep = -1, evfd = -1;
  SSL_CTX* ctx = nullptr;
  std::vector<Conn> conns;
  int target = 0;  // bulk/small/handshake: concurrent slots; idle: sessions
  int started = 0, active = 0, holding = 0;
  bool stopping = false;
  bool aborted = false;  // --timeout expired
  int64_t completed_in_window = 0, completed_total = 0, failed = 0, eof_timeouts = 0;
  std::vector<double> lat;  // microseconds
  double last_end = 0;
  uint32_t next_source = 0;
  std::atomic<int> holding_now{0};  // read by main to draw the idle sample
  std::atomic<int> sample_want{0};
  std::vector<double> sample_lat;  // seconds; kSampleCutoffSecs: no answer
};
std::unique_ptr<Worker[]> workers;

void LogErr(const char* what, const Conn* c) {
  if (g_err_printed.fetch_add(1) < 5) {
    char eb[256] = "";
    if (uint32_t e = ERR_peek_error()) ERR_error_string_n(e, eb, sizeof eb);
    fprintf(stderr, "imapfront_loadgen: %s (state=%d errno=%d %s)\n", what,
            c ? static_cast<int>(c->state) : -1, errno, eb);
  }
  ERR_clear_error();
}

void SetInterest(Worker* w, Conn* c, int ev) {
  if (c->interest == ev) return;
  epoll_event e{};
  e.events = static_cast<uint32_t>(ev);
  e.data.ptr = c;
  epoll_ctl(w->ep, c->interest < 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &e);
  c->interest = ev;
}

int SslErr(Conn* c, int n) {
  switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
      return kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return kEof;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET || errno == EPIPE))
        return kEof;
      return kErr;
    default:
      return kErr;
  }
}

int Read(Conn* c, char* buf, int len) {
  if (!c->ssl) {
    for (;;) {
      ssize_t n = recv(c->fd, buf, static_cast<size_t>(len), 0);
      if (n > 0) return static_cast<int>(n);
      if (n == 0) return kEof;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return kWantRead;
      if (errno == ECONNRESET) return kEof;
      return kErr;
    }
  }
  ERR_clear_error();
  errno = 0;
  int n = SSL_read(c->ssl, buf, len);
  return n > 0 ? n : SslErr(c, n);
}

int Write(Conn* c, const char* buf, int len) {
  if (!c->ssl) {
    for (;;) {
      ssize_t n = send(c->fd, buf, static_cast<size_t>(len), MSG_NOSIGNAL);
      if (n >= 0) return static_cast<int>(n);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return kWantWrite;
      return kErr;
    }
  }
  ERR_clear_error();
  errno = 0;
  int n = SSL_write(c->ssl, buf, len);
  return n > 0 ? n : SslErr(c, n);
}

// Frees the reply buffer when nothing is buffered (idle sessions keep none).
void ReleaseIn(Conn* c) {
  if (c->inpos == c->inlen) {
    c->in.reset();
    c->inpos = c->inlen = 0;
  }
}

// A line (length > 0, *line set, CRLF included) or a step() result.
int ReadLine(Conn* c, char** line) {
  if (!c->in) {
    c->in = std::make_unique<char[]>(kInCap);
    c->inpos = c->inlen = 0;
  }
  for (;;) {
    char* start = c->in.get() + c->inpos;
    if (auto* nl =
            static_cast<char*>(memchr(start, '\n', static_cast<size_t>(c->inlen - c->inpos)))) {
      *line = start;
      int n = static_cast<int>(nl - start + 1);
      c->inpos += n;
      return n;
    }
    if (c->inpos > 0) {
      memmove(c->in.get(), start, static_cast<size_t>(c->inlen - c->inpos));
      c->inlen -= c->inpos;
      c->inpos = 0;
    }
    if (c->inlen == kInCap) c->inlen = 0;  // an absurdly long line: dropped
    int r = Read(c, c->in.get() + c->inlen, kInCap - c->inlen);
    if (r < 0) return r;
    c->inlen += r;
  }
}

void Queue(Conn* c, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Queue(Conn* c, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int room = static_cast<int>(sizeof c->out) - c->outlen;
  int n = vsnprintf(c->out + c->outlen, static_cast<size_t>(room), fmt, ap);
  va_end(ap);
  if (n > 0) c->outlen += std::min(n, room - 1);
}

void SetTag(Conn* c, const char* tag) {
  snprintf(c->tag, sizeof c->tag, "%s", tag);
}

// 1: tagged OK for TAG; -1: tagged NO/BAD; 0: another line.
int Tagged(const char* line, int n, const char* tag) {
  size_t tl = strlen(tag);
  if (static_cast<size_t>(n) < tl + 3 || strncmp(line, tag, tl) || line[tl] != ' ') return 0;
  return strncasecmp(line + tl + 1, "OK", 2) == 0 ? 1 : -1;
}

void RecordTlsInfo(Conn* c) {
  std::lock_guard lock(g_tls_mu);
  if (!g_tlsinfo.empty()) return;
  const char* group = "?";
  if (uint16_t id = SSL_get_curve_id(c->ssl)) {
    if (const char* name = SSL_get_curve_name(id)) group = name;
  }
  char key[64] = "?";
  if (X509* x = SSL_get_peer_certificate(c->ssl)) {
    if (EVP_PKEY* pk = X509_get_pubkey(x)) {
      int type = EVP_PKEY_id(pk);
      const char* kind = type == EVP_PKEY_EC        ? "EC"
                         : type == EVP_PKEY_RSA     ? "RSA"
                         : type == EVP_PKEY_ED25519 ? "ED25519"
                                                    : "other";
      snprintf(key, sizeof key, "%s-%d", kind, EVP_PKEY_bits(pk));
      EVP_PKEY_free(pk);
    }
    X509_free(x);
  }
  const SSL_CIPHER* cipher = SSL_get_current_cipher(c->ssl);
  Appendf(&g_tlsinfo, "proto=%s cipher=%s group=%s server_key=%s", SSL_get_version(c->ssl),
          cipher ? SSL_CIPHER_standard_name(cipher) : "?", group, key);
}

void StartWork(Conn* c) {
  if (opt.scenario == kBulk) {
    c->remaining = opt.bytes;
    SetTag(c, "a1");
    Queue(c, "a1 APPEND INBOX {%lld}\r\n", static_cast<long long>(opt.bytes));
    c->state = kAppendCont;
  } else {
    c->cmd_i = 1;
    snprintf(c->tag, sizeof c->tag, "a%d", c->cmd_i);
    Queue(c, "%s NOOP\r\n", c->tag);
    c->t_cmd = Now();
    c->state = kNoopWait;
  }
}

void BeginLogout(Conn* c) {
  SetTag(c, "a");
  Queue(c, "a LOGOUT\r\n");
  c->state = kLogoutWait;
}

void EnterHold(Worker* w, Conn* c) {
  c->state = kHold;
  ++w->holding;
  w->holding_now.store(w->holding, std::memory_order_relaxed);
  ReleaseIn(c);
}

int AfterSetup(Worker* w, Conn* c) {
  switch (opt.scenario) {
    case kBulk:
    case kSmall:
      c->state = kReady;
      ReleaseIn(c);
      g_ready.fetch_add(1);
      if (g_phase.load() >= kGo) StartWork(c);
      return kProgress;
    case kHandshake:
      BeginLogout(c);
      return kProgress;
    default:
      EnterHold(w, c);
      g_ready.fetch_add(1);
      return kProgress;
  }
}

// One step of a connection's state machine.
int Step(Worker* w, Conn* c) {
  char* l;
  int n, r;
  if (c->outpos < c->outlen) {
    r = Write(c, c->out + c->outpos, c->outlen - c->outpos);
    if (r < 0) return r;
    c->outpos += r;
    if (c->outpos < c->outlen) return kProgress;
    c->outpos = c->outlen = 0;
  }
  switch (c->state) {
    case kConnecting: {
      int err = 0;
      socklen_t el = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
      if (err) {
        errno = err;
        return kErr;
      }
      c->state = c->ssl ? kHandshaking : kGreeting;
      return kProgress;
    }
    case kHandshaking:
      ERR_clear_error();
      errno = 0;
      r = SSL_connect(c->ssl);
      if (r == 1) {
        RecordTlsInfo(c);
        c->state = kGreeting;
        return kProgress;
      }
      return SslErr(c, r);
    case kGreeting:
      n = ReadLine(c, &l);
      if (n < 0) return n;
      if (n >= 4 && !strncmp(l, "* OK", 4)) {
        if (opt.login) {
          SetTag(c, "a0");
          Queue(c, "a0 LOGIN u p\r\n");
          c->state = kLoginWait;
          return kProgress;
        }
        return AfterSetup(w, c);
      }
      return kErr;
    case kLoginWait:
      n = ReadLine(c, &l);
      if (n < 0) return n;
      r = Tagged(l, n, c->tag);
      if (r > 0) return AfterSetup(w, c);
      return r < 0 ? kErr : kProgress;
    case kReady:
    case kHold:
      // Nothing expected: drain strays (late session tickets), notice a close.
      n = ReadLine(c, &l);
      if (n < 0) {
        if (n != kWantRead) return n;
        ReleaseIn(c);
        return kPark;
      }
      return kProgress;
    case kAppendCont:
      n = ReadLine(c, &l);
      if (n < 0) return n;
      if (l[0] == '+') {
        c->state = kAppendData;
        return kProgress;
      }
      return Tagged(l, n, c->tag) ? kErr : kProgress;
    case kAppendData:
      while (c->remaining > 0) {
        int len = static_cast<int>(std::min<int64_t>(c->remaining, opt.chunk));
        r = Write(c, g_data.data(), len);
        if (r < 0) return r;
        c->remaining -= r;
      }
      Queue(c, "\r\n");
      c->state = kAppendOk;
      return kProgress;
    case kAppendOk:
      n = ReadLine(c, &l);
      if (n < 0) return n;
      r = Tagged(l, n, c->tag);
      if (r < 0) return kErr;
      if (r > 0) {
        w->last_end = std::max(w->last_end, Now());
        ++w->completed_total;
        g_workdone.fetch_add(1);
        BeginLogout(c);
      }
      return kProgress;
    case kNoopWait:
      n = ReadLine(c, &l);
      if (n < 0) return n;
      r = Tagged(l, n, c->tag);
      if (r < 0) return kErr;
      if (r > 0) {
        double t = Now();
        w->lat.push_back((t - c->t_cmd) * 1e6);
        ++w->completed_total;
        if (++c->cmd_i > opt.cmds) {
          w->last_end = std::max(w->last_end, t);
          g_workdone.fetch_add(1);
          BeginLogout(c);
        } else {
          snprintf(c->tag, sizeof c->tag, "a%d", c->cmd_i);
          Queue(c, "%s NOOP\r\n", c->tag);
          c->t_cmd = Now();
        }
      }
      return kProgress;
    case kSampleWait:
      n = ReadLine(c, &l);
      if (n < 0) return n;
      r = Tagged(l, n, c->tag);
      if (r < 0) return kErr;
      if (r > 0) {
        w->sample_lat.push_back(Now() - c->t_cmd);
        g_sample_done.fetch_add(1);
        c->state = kHold;
        ReleaseIn(c);
      }
      return kProgress;
    case kLogoutWait:
      n = ReadLine(c, &l);
      if (n < 0) return n;
      r = Tagged(l, n, c->tag);
      if (r < 0) return kErr;
      if (r > 0) {
        double t = Now();
        c->state = kEofWait;
        c->t_deadline = t + 1.0;
        if (opt.scenario == kHandshake) w->lat.push_back((t - c->t_open) * 1e6);
      }
      return kProgress;
    case kEofWait:
      n = ReadLine(c, &l);
      if (n == kEof || n == kErr) return kDone;
      return n < 0 ? n : kProgress;
    case kFree:
      break;
  }
  return kErr;
}

void ConnClose(Worker* w, Conn* c, bool ok) {
  if (c->state == kHold || c->state == kSampleWait) {
    --w->holding;
    w->holding_now.store(w->holding, std::memory_order_relaxed);
  }
  if (c->ssl) {
    if (ok) SSL_shutdown(c->ssl);  // close_notify, without waiting for the peer's
    SSL_free(c->ssl);
    c->ssl = nullptr;
  }
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->state = kFree;
  c->interest = -1;
  c->in.reset();
  --w->active;
}

void CountFailure(Worker* w) {
  ++w->failed;
  g_failed.fetch_add(1);
}

void ConnFinished(Worker* w, Conn* c, bool ok) {
  State st = c->state;
  ConnClose(w, c, ok);
  if (!ok) {
    CountFailure(w);
    if (st == kHold || st == kReady || st == kSampleWait) g_dropped.fetch_add(1);
    if (st == kSampleWait) g_sample_done.fetch_add(1);
  } else if (opt.scenario == kHandshake) {
    ++w->completed_total;
    if (Now() <= g_deadline) ++w->completed_in_window;
  }
}

void Drive(Worker* w, Conn* c) {
  for (int guard = 0; guard < 100000; ++guard) {
    int r = Step(w, c);
    switch (r) {
      case kProgress:
        continue;
      case kWantRead:
      case kPark:
        SetInterest(w, c, EPOLLIN);
        return;
      case kWantWrite:
        SetInterest(w, c, EPOLLOUT);
        return;
      case kDone:
        ConnFinished(w, c, true);
        return;
      default:  // EOF or error
        if (!(c->state == kHold && g_phase.load() >= kStop))
          LogErr(r == kEof ? "unexpected EOF" : "connection error", c);
        ConnFinished(w, c, false);
        return;
    }
  }
}

void ConnOpen(Worker* w, Conn* c) {
  c->inpos = c->inlen = c->outpos = c->outlen = 0;
  c->remaining = 0;
  c->cmd_i = 0;
  c->tag[0] = 0;
  c->interest = -1;
  c->t_open = Now();
  c->state = kConnecting;
  ++w->started;
  ++w->active;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    LogErr("socket()", c);
    ConnFinished(w, c, false);
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (opt.sources > 1) {
    // 127.0.0.1 .. 127.0.0.N round robin: each source has its own ports.
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    uint32_t i =
        (w->next_source++ * static_cast<uint32_t>(opt.threads) + static_cast<uint32_t>(w->id)) %
        static_cast<uint32_t>(opt.sources);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + i);
    if (bind(c->fd, reinterpret_cast<sockaddr*>(&src), sizeof src) < 0) {
      LogErr("bind()", c);
      ConnFinished(w, c, false);
      return;
    }
  }
  if (!opt.plain) {
    c->ssl = SSL_new(w->ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
  }
  int r = connect(c->fd, reinterpret_cast<sockaddr*>(&g_addr), sizeof g_addr);
  if (r < 0 && errno != EINPROGRESS) {
    LogErr("connect()", c);
    ConnFinished(w, c, false);
    return;
  }
  if (r < 0) {
    SetInterest(w, c, EPOLLOUT);
    return;
  }
  Drive(w, c);
}

// New connections where the scenario wants them.
void Refill(Worker* w) {
  if (g_phase.load() != kGo || w->stopping) return;
  double t = Now();
  if (t >= g_hard_deadline) return;
  if (opt.scenario == kHandshake) {
    if (t >= g_deadline || g_failed.load() >= 1000) return;
    for (Conn& c : w->conns)
      if (c.state == kFree) ConnOpen(w, &c);
  } else if (opt.scenario == kIdle) {
    while (w->started < w->target && w->active - w->holding < opt.inflight)
      ConnOpen(w, &w->conns[static_cast<size_t>(w->started)]);
  }
}

// Idle: a NOOP on WANT of this worker's held sessions, drawn at random.
void SendSample(Worker* w) {
  int want = w->sample_want.load();
  std::vector<Conn*> held;
  for (Conn& c : w->conns)
    if (c.state == kHold) held.push_back(&c);
  want = std::min(want, static_cast<int>(held.size()));
  std::mt19937_64 rng(std::random_device{}() + static_cast<unsigned>(w->id));
  for (int i = 0; i < want; ++i) {
    std::uniform_int_distribution<size_t> pick(static_cast<size_t>(i), held.size() - 1);
    std::swap(held[static_cast<size_t>(i)], held[pick(rng)]);
  }
  for (int i = 0; i < want; ++i) {
    Conn* c = held[static_cast<size_t>(i)];
    SetTag(c, "aS");
    Queue(c, "aS NOOP\r\n");
    c->state = kSampleWait;
    c->t_cmd = Now();
  }
  for (int i = 0; i < want; ++i) {
    Conn* c = held[static_cast<size_t>(i)];
    if (c->state == kSampleWait) Drive(w, c);
  }
}

void HandlePhase(Worker* w) {
  uint64_t v;
  if (read(w->evfd, &v, sizeof v) < 0) {
  }
  int ph = g_phase.load();
  if (ph == kGo) {
    if (opt.scenario == kBulk || opt.scenario == kSmall) {
      for (Conn& c : w->conns) {
        if (c.state == kReady) {
          StartWork(&c);
          Drive(w, &c);
        }
      }
    } else {
      Refill(w);
    }
  } else if (ph == kSample && !w->stopping) {
    SendSample(w);
  } else if (ph >= kStop) {
    w->stopping = true;
    if (opt.scenario == kIdle || ph == kAbort) {
      for (Conn& c : w->conns) {
        if (c.state == kFree) continue;
        bool ok = c.state == kHold || c.state == kSampleWait;
        ConnClose(w, &c, ok);
        if (!ok) CountFailure(w);
      }
    }
  }
}

void WorkerMain(Worker* w) {
  epoll_event evs[512];
  if (opt.scenario == kBulk || opt.scenario == kSmall)
    for (Conn& c : w->conns) ConnOpen(w, &c);
  for (;;) {
    int n = epoll_wait(w->ep, evs, 512, 20);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(evs[i].data.ptr);
      if (!c) {
        HandlePhase(w);
        continue;
      }
      if (c->state == kFree) continue;
      if ((c->state == kHold || c->state == kReady) &&
          !(evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        continue;
      Drive(w, c);
    }
    double t = Now();
    if (opt.scenario != kIdle) {
      for (Conn& c : w->conns) {
        if (c.state == kEofWait && t > c.t_deadline) {
          ++w->eof_timeouts;  // the server did not close within 1 s of LOGOUT
          ConnFinished(w, &c, true);
        }
      }
    } else if (g_phase.load() == kSample) {
      for (Conn& c : w->conns) {
        if (c.state == kSampleWait && t > c.t_cmd + kSampleCutoffSecs) {
          w->sample_lat.push_back(kSampleCutoffSecs);
          g_sample_done.fetch_add(1);
          c.state = kHold;
        }
      }
    }
    Refill(w);
    if (t > g_hard_deadline && !w->aborted) {
      g_timed_out = true;
      fprintf(stderr, "imapfront_loadgen: worker %d hit --timeout, aborting %d connections\n",
              w->id, w->active);
      w->stopping = w->aborted = true;
      for (Conn& c : w->conns) {
        if (c.state != kFree) {
          ConnClose(w, &c, false);
          CountFailure(w);
        }
      }
    }
    int ph = g_phase.load();
    if (ph == kAbort && w->active == 0) break;
    if ((opt.scenario == kBulk || opt.scenario == kSmall) && w->active == 0 &&
        w->started >= w->target)
      break;
    if ((opt.scenario == kHandshake || opt.scenario == kIdle) && (w->stopping || ph >= kStop) &&
        w->active == 0)
      break;
    if (w->stopping && t > g_hard_deadline + 5) break;
  }
}

void SignalAll(int phase) {
  g_phase.store(phase);
  uint64_t one = 1;
  for (int i = 0; i < opt.threads; ++i)
    if (write(workers[i].evfd, &one, sizeof one) < 0) {
    }
}

// Nearest rank, of sorted V.
double Pct(const std::vector<double>& v, double p) {
  if (v.empty()) return NAN;
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(i, 1, v.size()) - 1];
}

std::vector<double> Gather(std::vector<double> Worker::*field) {
  std::vector<double> all;
  for (int i = 0; i < opt.threads; ++i)
    all.insert(all.end(), (workers[i].*field).begin(), (workers[i].*field).end());
  std::sort(all.begin(), all.end());
  return all;
}

// "256M", "1G", "16384": a byte count with an optional K/M/G (1024-based)
// suffix; nullopt for anything else.
std::optional<int64_t> ParseSize(const std::string& text) {
  char* end = nullptr;
  double v = strtod(text.c_str(), &end);
  if (end == text.c_str() || v < 0) return std::nullopt;
  switch (*end) {
    case 'k':
    case 'K':
      v *= 1024;
      ++end;
      break;
    case 'm':
    case 'M':
      v *= 1024 * 1024;
      ++end;
      break;
    case 'g':
    case 'G':
      v *= 1024.0 * 1024 * 1024;
      ++end;
      break;
    default:
      break;
  }
  if (*end != 0) return std::nullopt;
  return static_cast<int64_t>(v);
}

bool InitTls(Worker* w) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (!ctx) return false;
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  // No resumption: no session is kept, so none is offered.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  w->ctx = ctx;
  return true;
}

// Stops a run that is still going 10 s after --timeout (a stuck thread).
void Watchdog() {
  double until = g_hard_deadline + 10;
  while (Now() < until) usleep(100000);
  printf("RESULT scenario=%s label=%s conns=%d threads=%d failed=%d timed_out=1 rc=1\n",
         kScenarioNames[opt.scenario], opt.label.c_str(),
         opt.scenario == kIdle ? opt.sessions : opt.conns, opt.threads,
         std::max(1, g_failed.load()));
  fflush(stdout);
  _exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"imapfront_loadgen: the side-by-side benchmark's IMAP-over-TLS load generator"};
  std::string scenario, bytes_text = "256M", chunk_text = "16384", ciphersuites;
  app.add_option("scenario", scenario, "bulk | small | handshake | idle")
      ->required()
      ->check(CLI::IsMember({"bulk", "small", "handshake", "idle"}));
  app.add_option("-H", opt.host, "proxy address (127.0.0.1)");
  app.add_option("-p", opt.port, "port (10993)")->check(CLI::Range(1, 65535));
  app.add_flag("--plain", opt.plain, "no TLS (direct to the sink)");
  app.add_flag("--login", opt.login, "send 'a0 LOGIN u p' after the greeting");
  app.add_option("-c", opt.conns, "concurrent sessions (bulk 1, small 50, handshake 16)");
  app.add_option("-t", opt.threads, "threads (default min(C, 2)), each its own epoll loop");
  const auto size_check = CLI::Validator(
      [](std::string& text) {
        return ParseSize(text) ? std::string() : "not a byte count (K/M/G suffix): " + text;
      },
      "BYTES");
  app.add_option("-n", bytes_text, "bulk literal size per session (256M)")->check(size_check);
  app.add_option("--chunk", chunk_text, "bulk write size (16384)")->check(size_check);
  app.add_option("-k", opt.cmds, "small: commands per session (200)");
  app.add_option("-d", opt.duration, "handshake: measuring window in seconds (10)");
  app.add_option("-m", opt.sessions, "idle: sessions to hold (5000)");
  app.add_option("--inflight", opt.inflight, "idle: opening handshakes in flight per thread (64)");
  app.add_option("--settle", opt.settle, "idle: seconds after all open before the RSS sample (1)");
  app.add_option("--hold", opt.hold, "idle: seconds to hold after the RSS sample (2)");
  app.add_option("--sources", opt.sources, "bind to 127.0.0.1 .. 127.0.0.N, round robin (1)");
  app.add_flag("--fd-check", opt.fd_check, "exit 2 (LIMIT line) if RLIMIT_NOFILE < sessions + 16");
  app.add_option("--pid", opt.pid, "proxy root pid: CPU+RSS of its process tree");
  app.add_option("--sink-pid", opt.sink_pid, "sink pid: CPU accounting");
  app.add_option("--ciphersuites", ciphersuites,
                 "accepted and ignored (BoringSSL offers its TLS 1.3 suites)");
  app.add_option("--timeout", opt.timeout, "hard limit for the whole run in seconds (120)");
  app.add_option("--label", opt.label, "copied into the RESULT line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (int i = 0; i < 4; ++i)
    if (scenario == kScenarioNames[i]) opt.scenario = i;
  opt.bytes = *ParseSize(bytes_text);
  opt.chunk = static_cast<int>(std::min<int64_t>(*ParseSize(chunk_text), 1 << 24));
  if (opt.conns < 0) opt.conns = opt.scenario == kBulk ? 1 : opt.scenario == kSmall ? 50 : 16;
  int total = opt.scenario == kIdle ? opt.sessions : opt.conns;
  if (opt.threads <= 0) opt.threads = std::min(opt.scenario == kIdle ? total : opt.conns, 2);
  opt.threads = std::max(1, std::min(opt.threads, total));
  if (opt.chunk < 1) opt.chunk = 16384;
  if (opt.inflight < 1) opt.inflight = 1;
  if (opt.sources < 1) opt.sources = 1;

  clk_tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  signal(SIGPIPE, SIG_IGN);
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t needed = static_cast<rlim_t>(total) + 16;
    if (rl.rlim_cur < needed) {
      if (opt.fd_check) {
        printf("LIMIT needed_fds=%llu rlimit_nofile=%llu\n",
               static_cast<unsigned long long>(needed),
               static_cast<unsigned long long>(rl.rlim_cur));
        return 2;
      }
      fprintf(stderr, "imapfront_loadgen: warning: RLIMIT_NOFILE %llu < sessions + 16\n",
              static_cast<unsigned long long>(rl.rlim_cur));
    }
  }
  g_addr.sin_family = AF_INET;
  g_addr.sin_port = htons(static_cast<uint16_t>(opt.port));
  if (inet_pton(AF_INET, opt.host.c_str(), &g_addr.sin_addr) != 1) {
    fprintf(stderr, "imapfront_loadgen: bad host %s\n", opt.host.c_str());
    return 2;
  }
  g_data.resize(static_cast<size_t>(opt.chunk));
  for (size_t i = 0; i < g_data.size(); ++i)
    g_data[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' : static_cast<char>('A' + i % 26);

  workers = std::make_unique<Worker[]>(static_cast<size_t>(opt.threads));
  for (int i = 0; i < opt.threads; ++i) {
    Worker* w = &workers[i];
    w->id = i;
    w->target = total / opt.threads + (i < total % opt.threads);
    w->conns.resize(static_cast<size_t>(w->target));
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.ptr = nullptr;
    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->evfd, &e);
    if (!opt.plain && !InitTls(w)) {
      fprintf(stderr, "imapfront_loadgen: SSL_CTX_new failed\n");
      return 2;
    }
  }

  double t_start = Now();
  g_hard_deadline = t_start + opt.timeout;
  g_deadline = g_hard_deadline;
  std::thread(Watchdog).detach();
  Sample s_start = TakeSample(), s0, s1;
  int rc = 0;
  std::string res;
  int64_t eof_timeouts = 0;
  auto span_of = [&] { return std::max(s1.t - s0.t, 1e-9); };

  for (int i = 0; i < opt.threads; ++i) workers[i].th = std::thread(WorkerMain, &workers[i]);
  auto join_all = [&] {
    for (int i = 0; i < opt.threads; ++i) workers[i].th.join();
    for (int i = 0; i < opt.threads; ++i) eof_timeouts += workers[i].eof_timeouts;
  };

  if (opt.scenario == kBulk || opt.scenario == kSmall) {
    while (g_ready.load() + g_failed.load() < total && Now() < g_hard_deadline) usleep(1000);
    if (g_ready.load() + g_failed.load() < total) g_timed_out = true;
    s0 = TakeSample();
    if (g_failed.load() > 0 || g_ready.load() < total) {
      s0 = s_start;  // the measured phase never began: cores over the setup
      fprintf(stderr, "imapfront_loadgen: %d of %d sessions failed during setup\n",
              total - g_ready.load(), total);
      SignalAll(kAbort);
      rc = 1;
    } else {
      SignalAll(kGo);
      while (g_workdone.load() + g_failed.load() < total && Now() < g_hard_deadline) usleep(500);
      if (g_workdone.load() + g_failed.load() < total) g_timed_out = true;
    }
    s1 = TakeSample();
    if (!rc) SignalAll(kStop);
    join_all();
    double last = 0;
    int64_t done = 0;
    for (int i = 0; i < opt.threads; ++i) {
      last = std::max(last, workers[i].last_end);
      done += workers[i].completed_total;
    }
    double wall = last - s0.t;
    if (wall <= 0) wall = span_of();
    double cpu = s1.proxy - s0.proxy;
    if (opt.scenario == kBulk) {
      double bytes = static_cast<double>(opt.bytes) * static_cast<double>(done);
      Appendf(&res,
              "mbps=%.1f wall_s=%.3f bytes=%.0f sessions_ok=%lld proxy_cpu_s_per_gb=%.3f "
              "eof_timeouts=%lld",
              bytes / wall / 1e6, wall, bytes, static_cast<long long>(done),
              opt.pid && bytes > 0 ? cpu / (bytes / 1e9) : NAN,
              static_cast<long long>(eof_timeouts));
      printf("bulk: %d session(s) x %lld bytes: %.1f MB/s aggregated, wall %.3f s\n", opt.conns,
             static_cast<long long>(opt.bytes), bytes / wall / 1e6, wall);
    } else {
      std::vector<double> all = Gather(&Worker::lat);
      double n = static_cast<double>(all.size());
      double cps = n / wall;
      Appendf(&res,
              "cmds=%zu cmds_per_s=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f "
              "wall_s=%.3f proxy_cpu_us_per_cmd=%.2f eof_timeouts=%lld",
              all.size(), cps, Pct(all, 50), Pct(all, 90), Pct(all, 99),
              all.empty() ? NAN : all.back(), wall, opt.pid && n > 0 ? cpu * 1e6 / n : NAN,
              static_cast<long long>(eof_timeouts));
      printf("small: %d sessions x %d NOOP: %.0f cmds/s, p50 %.0f us, p99 %.0f us\n", opt.conns,
             opt.cmds, cps, Pct(all, 50), Pct(all, 99));
    }
    Appendf(&res, " failed=%d", g_failed.load());
  } else if (opt.scenario == kHandshake) {
    s0 = TakeSample();
    g_deadline = std::min(s0.t + opt.duration, g_hard_deadline);
    SignalAll(kGo);
    while (Now() < g_deadline) usleep(2000);
    s1 = TakeSample();
    SignalAll(kStop);
    join_all();
    int64_t in_win = 0, total_ok = 0;
    for (int i = 0; i < opt.threads; ++i) {
      in_win += workers[i].completed_in_window;
      total_ok += workers[i].completed_total;
    }
    std::vector<double> all = Gather(&Worker::lat);
    double span = span_of();
    double rate = static_cast<double>(in_win) / span;
    Appendf(&res,
            "hs_per_s=%.0f handshakes=%lld total_ok=%lld failed=%d eof_timeouts=%lld "
            "window_s=%.2f sess_p50_us=%.0f sess_p99_us=%.0f proxy_cpu_us_per_hs=%.1f",
            rate, static_cast<long long>(in_win), static_cast<long long>(total_ok), g_failed.load(),
            static_cast<long long>(eof_timeouts), span, Pct(all, 50), Pct(all, 99),
            opt.pid && in_win ? (s1.proxy - s0.proxy) * 1e6 / static_cast<double>(in_win) : NAN);
    printf(
        "handshake: %d parallel, %.1f s: %.0f sessions/s (%lld ok, %d failed), session p50 %.0f "
        "us\n",
        opt.conns, span, rate, static_cast<long long>(in_win), g_failed.load(), Pct(all, 50));
  } else {  // idle
    s0 = TakeSample();
    SignalAll(kGo);
    while (g_ready.load() + g_failed.load() < total && Now() < g_hard_deadline) usleep(2000);
    if (g_ready.load() + g_failed.load() < total) g_timed_out = true;
    double t_open = Now() - s0.t;
    int ready = g_ready.load();
    int open_now = ready - g_dropped.load();
    printf("IDLE_READY sessions=%d proxy_pid=%d proxy_rss_kb=%ld\n", open_now, opt.pid,
           TreeStatOf(opt.pid).rss_kb);
    fflush(stdout);
    double until = std::min(Now() + opt.settle, g_hard_deadline);
    while (Now() < until) usleep(10000);
    s1 = TakeSample();
    until = std::min(Now() + opt.hold, g_hard_deadline);
    while (Now() < until) usleep(10000);
    int dropped = g_dropped.load();

    // A NOOP on a random sample of the held sessions, all at once.
    std::vector<int> held(static_cast<size_t>(opt.threads));
    int nheld = 0;
    for (int i = 0; i < opt.threads; ++i)
      nheld += held[static_cast<size_t>(i)] = workers[i].holding_now.load();
    int k = std::min(1000, nheld);
    {
      std::mt19937_64 rng(std::random_device{}());
      std::vector<int> owner;  // one entry per held session: its worker
      owner.reserve(static_cast<size_t>(nheld));
      for (int i = 0; i < opt.threads; ++i)
        owner.insert(owner.end(), held[static_cast<size_t>(i)], i);
      for (int i = 0; i < k; ++i) {
        std::uniform_int_distribution<size_t> pick(static_cast<size_t>(i), owner.size() - 1);
        std::swap(owner[static_cast<size_t>(i)], owner[pick(rng)]);
        workers[owner[static_cast<size_t>(i)]].sample_want.fetch_add(1);
      }
    }
    int sent = 0;
    for (int i = 0; i < opt.threads; ++i) sent += workers[i].sample_want.load();
    if (k > 0 && Now() < g_hard_deadline) {
      SignalAll(kSample);
      until = std::min(Now() + kSampleCutoffSecs + 1, g_hard_deadline);
      while (g_sample_done.load() < sent && Now() < until) usleep(1000);
    }
    SignalAll(kStop);
    join_all();
    std::vector<double> lat = Gather(&Worker::sample_lat);
    lat.resize(static_cast<size_t>(k), kSampleCutoffSecs);  // the unanswered
    std::sort(lat.begin(), lat.end());
    int noop_ok = static_cast<int>(
        std::count_if(lat.begin(), lat.end(), [](double s) { return s <= kSampleOkSecs; }));
    double noop_max = lat.empty() ? NAN : lat.back() * 1e3, noop_p99 = Pct(lat, 99) * 1e3;
    printf("idle-sample: noop_sample=%d noop_ok=%d noop_max_ms=%.1f noop_p99_ms=%.1f\n", k, noop_ok,
           noop_max, noop_p99);
    double per = ready > 0 ? static_cast<double>(s1.proxy_rss - s0.proxy_rss) / ready : NAN;
    Appendf(&res,
            "sessions=%d sessions_open=%d requested=%d failed=%d dropped_during_hold=%d "
            "open_s=%.2f proxy_rss_before_kb=%ld proxy_rss_after_kb=%ld rss_kb_per_conn=%.2f "
            "proxy_nproc=%d sink_rss_kb=%ld noop_sample=%d noop_ok=%d noop_max_ms=%.1f "
            "noop_p99_ms=%.1f",
            ready, open_now, total, g_failed.load(), dropped, t_open, s0.proxy_rss, s1.proxy_rss,
            per, s1.proxy_nproc, s1.sink_rss, k, noop_ok, noop_max, noop_p99);
    printf("idle: %d/%d sessions open in %.2f s; proxy RSS %ld -> %ld KiB (%.2f KiB/conn)\n", ready,
           total, t_open, s0.proxy_rss, s1.proxy_rss, per);
    if (ready < total || noop_ok < k) rc = 1;
  }
  double span = span_of();
  Appendf(&res, " loadgen_cores=%.2f proxy_cores=%.2f sink_cores=%.2f machine_busy_cores=%.2f",
          (s1.self - s0.self) / span, opt.pid ? (s1.proxy - s0.proxy) / span : NAN,
          opt.sink_pid ? (s1.sink - s0.sink) / span : NAN, (s1.busy - s0.busy) / span);
  if (g_failed.load() > 0 || g_timed_out.load()) rc = 1;
  if (g_timed_out.load()) Appendf(&res, " timed_out=1");

  std::string tls;
  {
    std::lock_guard lock(g_tls_mu);
    printf("TLS: %s\n", opt.plain           ? "none (plain)"
                        : g_tlsinfo.empty() ? "(no handshake completed)"
                                            : g_tlsinfo.c_str());
    if (opt.plain) {
      tls = "tls=plain";
    } else {
      char cipher[64] = "?", key[64] = "?";
      if (const char* p = strstr(g_tlsinfo.c_str(), "cipher=")) sscanf(p, "cipher=%63s", cipher);
      if (const char* p = strstr(g_tlsinfo.c_str(), "server_key="))
        sscanf(p, "server_key=%63s", key);
      Appendf(&tls, "cipher=%s server_key=%s", cipher, key);
    }
  }
  printf("RESULT scenario=%s label=%s conns=%d threads=%d %s %s rc=%d\n",
         kScenarioNames[opt.scenario], opt.label.c_str(), total, opt.threads, res.c_str(),
         tls.c_str(), rc);
  fflush(stdout);
  _exit(rc);  // the watchdog thread is still sleeping
}
