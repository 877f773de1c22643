#include "proxy/worker.h"

#include <unistd.h>

#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/uv_handle.h"

namespace imapfront {
namespace {

// A connection accepted only to be closed.
struct RefusedConnection {
  uv_tcp_t tcp{};
  HandleGroup<RefusedConnection> handles{this};
  HandleGroup<RefusedConnection>& handle_group() { return handles; }
  void OnHandlesClosed() { delete this; }
};

}  // namespace

Worker::Worker(size_t index, Stats* stats, ConnectionCounts* counts, AuthThrottle* throttle,
               std::shared_ptr<const Runtime> runtime, std::vector<ListenSocket> sockets)
    : index_(index),
      stats_(stats),
      counts_(counts),
      throttle_(throttle),
      deadlines_(&loop_, &Session::OnDeadline),
      runtime_(std::move(runtime)) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &async_, &Worker::OnAsync);
  async_.data = this;
  for (const ListenSocket& s : sockets) AddListener(s, runtime_);
}

Worker::~Worker() {
  // The loop has run to completion (Join); every handle should be closed.
  const int r = uv_loop_close(&loop_);
  if (r != 0) {
    LogEvent(LogLevel::kError, "worker_error")
        .Add("worker", index_)
        .Add("error", std::string("event loop closed with handles still open: ") + uv_strerror(r));
  }
}

std::string ListenerKey(const ListenerConfig& l) {
  return l.name + "@" + l.listen.text;
}

void Worker::AddListener(const ListenSocket& socket, std::shared_ptr<const Runtime> runtime) {
  auto l = std::make_unique<Listener>();
  l->worker = this;
  l->name = socket.listener;
  l->key = socket.key;
  l->opened_with = std::move(runtime);
  uv_tcp_init(&loop_, &l->tcp);
  l->tcp.data = l.get();
  uv_tcp_open(&l->tcp, socket.fd);
  // The socket is bound and listening already; this registers the callback.
  int r = uv_listen(reinterpret_cast<uv_stream_t*>(&l->tcp), 511, &Worker::OnConnection);
  if (r < 0)
    LogEvent(LogLevel::kError, "listen_failed")
        .Add("listener", l->name)
        .Add("error", uv_strerror(r));
  listeners_.push_back(std::move(l));
}

void Worker::CloseListener(Listener* l) {
  if (l->closing) return;
  l->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), [](uv_handle_t* h) {
    auto* closed = static_cast<Listener*>(h->data);
    auto& all = closed->worker->listeners_;
    for (auto it = all.begin(); it != all.end(); ++it) {
      if (it->get() == closed) {
        all.erase(it);
        break;
      }
    }
  });
}

void Worker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Worker::Run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  finished_.store(true, std::memory_order_release);
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_requested_ = true;
  }
  uv_async_send(&async_);
}

void Worker::SetRuntime(std::shared_ptr<const Runtime> runtime, std::vector<ListenSocket> added,
                        std::vector<std::string> removed) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    next_runtime_ = std::move(runtime);
    for (ListenSocket& s : added) added_.push_back(std::move(s));
    for (std::string& k : removed) removed_.push_back(std::move(k));
  }
  uv_async_send(&async_);
}

void Worker::OnAsync(uv_async_t* async) {
  auto* self = static_cast<Worker*>(async->data);
  std::shared_ptr<const Runtime> next;
  std::vector<ListenSocket> added;
  std::vector<std::string> removed;
  bool stop;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    next = std::move(self->next_runtime_);
    added.swap(self->added_);
    removed.swap(self->removed_);
    stop = self->stop_requested_;
  }
  if (next) self->runtime_ = std::move(next);
  for (const std::string& key : removed) {
    for (auto& l : self->listeners_) {
      if (l->key == key) self->CloseListener(l.get());
    }
  }
  for (const ListenSocket& s : added) {
    // A later reload may have removed it again before this ran.
    bool wanted = false;
    for (const ListenerConfig& l : self->runtime_->config->listeners) {
      if (ListenerKey(l) == s.key) wanted = true;
    }
    if (self->stopping_ || !wanted) {
      close(s.fd);
    } else {
      self->AddListener(s, self->runtime_);
    }
  }
  if (stop) self->Stop();
}

void Worker::Stop() {
  if (stopping_) return;
  stopping_ = true;
  std::vector<Listener*> open_listeners;
  for (auto& l : listeners_) open_listeners.push_back(l.get());
  for (Listener* l : open_listeners) CloseListener(l);
  // Closing unlinks sessions only once their handles are closed, so walk a
  // snapshot of the list.
  std::vector<Session*> open;
  for (Session* s = sessions_; s; s = s->next) open.push_back(s);
  for (Session* s : open) s->BeginShutdown();
  MaybeFinish();
}

void Worker::MaybeFinish() {
  if (stopping_ && !sessions_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&async_))) {
    deadlines_.Close();
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  }
}

void Worker::OnConnection(uv_stream_t* server, int status) {
  auto* listener = static_cast<Listener*>(server->data);
  Worker* self = listener->worker;
  if (status < 0) {
    LogEvent(LogLevel::kWarn, "accept_failed")
        .Add("listener", listener->name)
        .Add("error", uv_strerror(status));
    return;
  }
  std::shared_ptr<const Runtime> runtime = self->runtime_;
  const ListenerConfig* config = runtime->config->FindListener(listener->name);
  if (!config) {
    runtime = listener->opened_with;
    config = runtime->config->FindListener(listener->name);
  }
  if (!config) {
    // Cannot happen (a listener's own config names it); refuse rather than crash.
    auto* refused = new RefusedConnection;
    uv_tcp_init(&self->loop_, &refused->tcp);
    refused->handles.Add(&refused->tcp);
    uv_accept(server, reinterpret_cast<uv_stream_t*>(&refused->tcp));
    refused->handles.Close(&refused->tcp);
    return;
  }
  auto* session = new Session(self, std::move(runtime), config);
  if (uv_accept(server, session->client_stream()) != 0) {
    session->Close(CloseReason::kClientClosed);
    return;
  }
  session->Start();
}

SessionCounters* Worker::RouteCounters(const std::string& route) {
  SessionCounters*& c = route_counters_[route];
  if (!c) c = stats_->RouteCounters(index_, route);
  return c;
}

void Worker::Attach(Session* s) {
  s->next = sessions_;
  if (sessions_) sessions_->prev = s;
  sessions_ = s;
}

void Worker::Detach(Session* s) {
  if (s->prev) s->prev->next = s->next;
  if (s->next) s->next->prev = s->prev;
  if (sessions_ == s) sessions_ = s->next;
  MaybeFinish();
}

}  // namespace imapfront
