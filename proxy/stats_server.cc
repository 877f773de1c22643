#include "proxy/stats_server.h"

#include <http_parser.h>

#include <string_view>

#include "proxy/log.h"
#include "proxy/uv_handle.h"

namespace imapfront {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr uint64_t kRequestTimeoutMs = 5000;

}  // namespace

struct StatsServer::Connection {
  StatsServer* server;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  uv_write_t write_req{};
  http_parser parser{};
  http_parser_settings settings{};
  std::string url;
  std::string response;
  size_t received = 0;
  bool complete = false;
  bool answered = false;
  HandleGroup<Connection> handles{this};

  HandleGroup<Connection>& handle_group() { return handles; }
  void OnHandlesClosed() { delete this; }

  explicit Connection(StatsServer* s) : server(s) {
    uv_tcp_init(s->loop_, &tcp);
    handles.Add(&tcp);
    uv_timer_init(s->loop_, &timer);
    handles.Add(&timer);
    write_req.data = parser.data = this;
    http_parser_init(&parser, HTTP_REQUEST);
    http_parser_settings_init(&settings);
    settings.on_url = [](http_parser* p, const char* at, size_t len) {
      static_cast<Connection*>(p->data)->url.append(at, len);
      return 0;
    };
    settings.on_message_complete = [](http_parser* p) {
      static_cast<Connection*>(p->data)->complete = true;
      return 0;
    };
  }

  void Start() {
    uv_timer_start(
        &timer, [](uv_timer_t* t) { static_cast<Connection*>(t->data)->Close(); },
        kRequestTimeoutMs, 0);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&tcp),
        [](uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
          static_cast<Connection*>(h->data)->Alloc(suggested, buf);
        },
        [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
          static_cast<Connection*>(s->data)->Read(nread, buf);
        });
  }

  char buffer[2048];
  void Alloc(size_t, uv_buf_t* buf) { *buf = uv_buf_init(buffer, sizeof(buffer)); }

  void Read(ssize_t nread, const uv_buf_t* buf) {
    if (nread < 0) return Close();
    if (nread == 0) return;  // EAGAIN; a zero length would mean EOF to the parser
    received += static_cast<size_t>(nread);
    size_t parsed = http_parser_execute(&parser, &settings, buf->base, static_cast<size_t>(nread));
    if (parser.http_errno != HPE_OK || parsed != static_cast<size_t>(nread)) {
      return Answer(400, "text/plain", "bad request\n");
    }
    if (received > kMaxRequestBytes) return Answer(431, "text/plain", "request too large\n");
    if (complete) Route();
  }

  void Route() {
    std::string_view path(url);
    path = path.substr(0, path.find('?'));
    if (parser.method != HTTP_GET && parser.method != HTTP_HEAD) {
      return Answer(405, "text/plain", "only GET\n");
    }
    if (path == "/healthz") return Answer(200, "text/plain", "ok\n");
    if (path == "/stats") {
      return Answer(200, "application/json", StatsJson(server->snapshot_()));
    }
    if (path == "/metrics") {
      return Answer(200, "text/plain; version=0.0.4", StatsPrometheus(server->snapshot_()));
    }
    Answer(404, "text/plain", "not found; try /healthz, /stats, /metrics\n");
  }

  void Answer(int status, const char* type, const std::string& body) {
    if (answered) return;
    answered = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
    const char* reason = status == 200   ? "OK"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                         : status == 431 ? "Request Header Fields Too Large"
                                         : "Bad Request";
    response = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
               "\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
    if (parser.method != HTTP_HEAD) response += body;
    uv_buf_t b = uv_buf_init(response.data(), static_cast<unsigned>(response.size()));
    int r = uv_write(&write_req, reinterpret_cast<uv_stream_t*>(&tcp), &b, 1,
                     [](uv_write_t* req, int) { static_cast<Connection*>(req->data)->Close(); });
    if (r < 0) Close();
  }

  void Close() {
    handles.Close(&tcp);
    handles.Close(&timer);
  }
};

StatsServer::StatsServer(uv_loop_t* loop, std::function<StatsSnapshot()> snapshot)
    : loop_(loop), snapshot_(std::move(snapshot)) {}

std::string StatsServer::Listen(const SocketAddress& address) {
  uv_tcp_init(loop_, &tcp_);
  tcp_.data = this;
  open_ = true;
  int r = uv_tcp_bind(&tcp_, address.sa(), 0);
  if (r == 0) r = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 64, &StatsServer::OnConnection);
  return r == 0 ? "" : uv_strerror(r);
}

void StatsServer::Close() {
  if (open_) uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
  open_ = false;
}

void StatsServer::OnConnection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* self = static_cast<StatsServer*>(server->data);
  auto* c = new Connection(self);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    c->Close();
    return;
  }
  c->Start();
}

}  // namespace imapfront
