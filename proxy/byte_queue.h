// Bytes waiting to be written to one socket: a list of fixed-size chunks.
//
// An empty queue owns no memory, so idle sessions cost nothing here. Bytes
// are appended at the tail and consumed from the head once the socket took
// them; chunks never move, so spans handed to an in-flight write stay valid
// while more bytes are appended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace imapfront {

class ByteQueue {
 public:
  ByteQueue() = default;
  ~ByteQueue();
  ByteQueue(const ByteQueue&) = delete;
  ByteQueue& operator=(const ByteQueue&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  void Append(std::span<const uint8_t> bytes);

  // Fills |out| with spans covering the queue from its head, in order.
  // Returns how many were filled (fewer than the chunks if |out| is short).
  size_t Gather(std::span<std::span<const uint8_t>> out) const;

  // Drops |n| bytes from the head (n <= size()), freeing emptied chunks.
  void Consume(size_t n);

  void Clear();

  // Allocation size of one chunk, header included.
  static constexpr size_t kChunkBytes = 16384;

 private:
  struct Chunk;
  // A ring: the tail's next chunk is the head (16 bytes per queue; a
  // session has three).
  Chunk* tail_ = nullptr;
  size_t size_ = 0;
};

}  // namespace imapfront
