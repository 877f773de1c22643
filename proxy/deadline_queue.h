// The deadlines of a worker's sessions on one libuv timer.
//
// A session has one deadline at a time (the handshake's, the idle timeout,
// the next emulated-IDLE poll, ...). Instead of a uv_timer_t each (152
// bytes per idle session), a session embeds an Entry (24 bytes) and the
// worker keeps them in a binary min-heap, its one timer armed for the
// earliest. Entries fire in deadline order; a firing callback may set or
// cancel any entry, its own included.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace imapfront {

class DeadlineQueue {
 public:
  struct Entry {
    void* data = nullptr;  // handed to the queue's callback
    uint64_t at_ms = 0;    // loop time (uv_now) it is due
    size_t index = kNotQueued;
    bool queued() const { return index != kNotQueued; }
  };
  static constexpr size_t kNotQueued = static_cast<size_t>(-1);

  // |fire| is called with an entry's data once its deadline has passed.
  DeadlineQueue(uv_loop_t* loop, void (*fire)(void* data));
  ~DeadlineQueue();
  DeadlineQueue(const DeadlineQueue&) = delete;
  DeadlineQueue& operator=(const DeadlineQueue&) = delete;

  // Due |ms| (at least 1) milliseconds from now, loop time; replaces the
  // entry's earlier deadline.
  void Set(Entry* entry, uint64_t ms);
  void Cancel(Entry* entry);
  size_t size() const { return heap_.size(); }

  // Closes the timer handle, so that the loop can be closed; entries still
  // queued are dropped. Set may not be called afterwards.
  void Close();

 private:
  static void OnTimer(uv_timer_t* timer);
  void Fire();
  void Arm();
  void Place(size_t i, Entry* e);
  void Up(size_t i);
  void Down(size_t i);
  void Remove(size_t i);

  uv_loop_t* loop_;
  void (*fire_)(void*);
  uv_timer_t timer_{};
  bool timer_started_ = false;  // uv_timer_init done (on the first Set)
  bool closed_ = false;
  std::vector<Entry*> heap_;
};

}  // namespace imapfront
