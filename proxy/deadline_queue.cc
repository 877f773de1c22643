#include "proxy/deadline_queue.h"

#include <cassert>

namespace imapfront {

DeadlineQueue::DeadlineQueue(uv_loop_t* loop, void (*fire)(void* data))
    : loop_(loop), fire_(fire) {}

DeadlineQueue::~DeadlineQueue() {
  assert(closed_ || heap_.empty());
}

void DeadlineQueue::Close() {
  for (Entry* e : heap_) e->index = kNotQueued;
  heap_.clear();
  if (closed_) return;
  closed_ = true;
  if (timer_started_) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void DeadlineQueue::Set(Entry* entry, uint64_t ms) {
  assert(!closed_);
  // The timer is made on first use: the loop may not be initialized when
  // the queue is constructed.
  if (!timer_started_) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    timer_started_ = true;
  }
  // At least one millisecond: a callback that sets a deadline of "now"
  // fires at the next loop iteration, never again in the same Fire().
  entry->at_ms = uv_now(loop_) + (ms > 0 ? ms : 1);
  if (entry->queued()) {
    Up(entry->index);
    Down(entry->index);
  } else {
    heap_.push_back(entry);
    entry->index = heap_.size() - 1;
    Up(entry->index);
  }
  Arm();
}

void DeadlineQueue::Cancel(Entry* entry) {
  if (!entry->queued()) return;
  Remove(entry->index);
  Arm();
}

void DeadlineQueue::Remove(size_t i) {
  Entry* gone = heap_[i];
  Entry* last = heap_.back();
  heap_.pop_back();
  gone->index = kNotQueued;
  if (last != gone) {
    Place(i, last);
    Up(i);
    Down(last->index);
  }
}

void DeadlineQueue::Place(size_t i, Entry* e) {
  heap_[i] = e;
  e->index = i;
}

void DeadlineQueue::Up(size_t i) {
  Entry* e = heap_[i];
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (heap_[parent]->at_ms <= e->at_ms) break;
    Place(i, heap_[parent]);
    i = parent;
  }
  Place(i, e);
}

void DeadlineQueue::Down(size_t i) {
  Entry* e = heap_[i];
  const size_t n = heap_.size();
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1]->at_ms < heap_[child]->at_ms) ++child;
    if (heap_[child]->at_ms >= e->at_ms) break;
    Place(i, heap_[child]);
    i = child;
  }
  Place(i, e);
}

// The timer runs while a deadline is queued, for the earliest one.
void DeadlineQueue::Arm() {
  if (closed_ || !timer_started_) return;
  if (heap_.empty()) {
    uv_timer_stop(&timer_);
    return;
  }
  const uint64_t now = uv_now(loop_);
  const uint64_t at = heap_.front()->at_ms;
  uv_timer_start(&timer_, &DeadlineQueue::OnTimer, at > now ? at - now : 0, 0);
}

void DeadlineQueue::OnTimer(uv_timer_t* timer) {
  static_cast<DeadlineQueue*>(timer->data)->Fire();
}

void DeadlineQueue::Fire() {
  const uint64_t now = uv_now(loop_);
  // Each callback may set or cancel entries: take the earliest afresh.
  while (!heap_.empty() && heap_.front()->at_ms <= now) {
    Entry* e = heap_.front();
    Remove(0);
    fire_(e->data);
  }
  Arm();
}

}  // namespace imapfront
