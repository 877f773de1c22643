#include "proxy/byte_queue.h"

#include <algorithm>
#include <cstdlib>
#include <new>

namespace imapfront {

struct ByteQueue::Chunk {
  Chunk* next;
  uint32_t begin;
  uint32_t end;

  // The bytes follow the header in the same allocation.
  uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }
  static constexpr size_t kCapacity = kChunkBytes - sizeof(ByteQueue::Chunk*) - 8;

  static Chunk* New() {
    static_assert(sizeof(Chunk) + kCapacity == kChunkBytes);
    void* p = std::malloc(kChunkBytes);
    if (!p) throw std::bad_alloc();
    auto* c = static_cast<Chunk*>(p);
    c->next = nullptr;
    c->begin = c->end = 0;
    return c;
  }
};

ByteQueue::~ByteQueue() {
  Clear();
}

void ByteQueue::Clear() {
  if (tail_) {
    Chunk* c = tail_->next;  // the head
    tail_->next = nullptr;   // the ring ends at the tail
    while (c) {
      Chunk* next = c->next;
      std::free(c);
      c = next;
    }
  }
  tail_ = nullptr;
  size_ = 0;
}

void ByteQueue::Append(std::span<const uint8_t> bytes) {
  size_ += bytes.size();
  while (!bytes.empty()) {
    if (!tail_ || tail_->end == Chunk::kCapacity) {
      Chunk* c = Chunk::New();
      if (tail_) {
        c->next = tail_->next;  // the head
        tail_->next = c;
      } else {
        c->next = c;
      }
      tail_ = c;
    }
    size_t n = std::min(bytes.size(), Chunk::kCapacity - tail_->end);
    std::copy_n(bytes.data(), n, tail_->data() + tail_->end);
    tail_->end += static_cast<uint32_t>(n);
    bytes = bytes.subspan(n);
  }
}

size_t ByteQueue::Gather(std::span<std::span<const uint8_t>> out) const {
  size_t filled = 0;
  if (!tail_) return 0;
  Chunk* c = tail_->next;  // the head
  while (filled < out.size()) {
    if (c->end > c->begin) out[filled++] = {c->data() + c->begin, c->end - c->begin};
    if (c == tail_) break;
    c = c->next;
  }
  return filled;
}

void ByteQueue::Consume(size_t n) {
  n = std::min(n, size_);
  size_ -= n;
  while (n > 0) {
    Chunk* head = tail_->next;
    size_t in_head = head->end - head->begin;
    if (n < in_head) {
      head->begin += static_cast<uint32_t>(n);
      return;
    }
    n -= in_head;
    if (head == tail_) {
      tail_ = nullptr;
    } else {
      tail_->next = head->next;
    }
    std::free(head);
  }
}

}  // namespace imapfront
