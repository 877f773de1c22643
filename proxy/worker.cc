#include "proxy/worker.h"

#include <unistd.h>

#include "proxy/log.h"
#include "proxy/session.h"

namespace imapfront {

Worker::Worker(size_t index, Stats* stats, ConnectionCounts* counts,
               std::shared_ptr<const Runtime> runtime, std::vector<ListenSocket> sockets)
    : index_(index), stats_(stats), counts_(counts), runtime_(std::move(runtime)) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &async_, &Worker::OnAsync);
  async_.data = this;
  for (ListenSocket& s : sockets) {
    auto l = std::make_unique<Listener>();
    l->worker = this;
    l->name = s.listener;
    l->opened_with = runtime_;
    uv_tcp_init(&loop_, &l->tcp);
    l->tcp.data = l.get();
    uv_tcp_open(&l->tcp, s.fd);
    listeners_.push_back(std::move(l));
  }
}

Worker::~Worker() {
  // The loop has run to completion (Join); every handle is closed.
  uv_loop_close(&loop_);
}

void Worker::Start() {
  for (auto& l : listeners_) {
    int r = uv_listen(reinterpret_cast<uv_stream_t*>(&l->tcp), 511, &Worker::OnConnection);
    if (r < 0)
      Logf(LogLevel::kError, "listener=%s listen failed: %s", l->name.c_str(), uv_strerror(r));
  }
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

void Worker::SetRuntime(std::shared_ptr<const Runtime> runtime) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    next_runtime_ = std::move(runtime);
  }
  uv_async_send(&async_);
}

void Worker::OnAsync(uv_async_t* async) {
  auto* self = static_cast<Worker*>(async->data);
  std::shared_ptr<const Runtime> next;
  bool stop;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    next = std::move(self->next_runtime_);
    stop = self->stop_requested_;
  }
  if (next) self->runtime_ = std::move(next);
  if (stop) self->Stop();
}

void Worker::Stop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& l : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), nullptr);
  }
  // Closing unlinks sessions only once their handles are closed, so walk a
  // snapshot of the list.
  std::vector<Session*> open;
  for (Session* s = sessions_; s; s = s->next) open.push_back(s);
  for (Session* s : open) s->BeginShutdown();
  MaybeFinish();
}

void Worker::MaybeFinish() {
  if (stopping_ && !sessions_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&async_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  }
}

void Worker::OnConnection(uv_stream_t* server, int status) {
  auto* listener = static_cast<Listener*>(server->data);
  Worker* self = listener->worker;
  if (status < 0) {
    Logf(LogLevel::kWarn, "listener=%s accept failed: %s", listener->name.c_str(),
         uv_strerror(status));
    return;
  }
  std::shared_ptr<const Runtime> runtime = self->runtime_;
  const ListenerConfig* config = runtime->config->FindListener(listener->name);
  if (!config) {
    runtime = listener->opened_with;
    config = runtime->config->FindListener(listener->name);
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
