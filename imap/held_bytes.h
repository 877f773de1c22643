// Bytes a framer holds across feeds: a line that straddles two feeds, a
// response held until it is complete. Unlike std::string (32 bytes, and a
// buffer kept after clear()), it is 24 bytes and owns memory only while it
// holds bytes: clear() frees it, so an idle session holds none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

namespace imapfront::imap {

class HeldBytes {
 public:
  HeldBytes() = default;
  HeldBytes(HeldBytes&& other) noexcept { *this = std::move(other); }
  HeldBytes& operator=(HeldBytes&& other) noexcept {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool owns_memory() const { return data_ != nullptr; }
  char operator[](size_t i) const { return data_[i]; }
  char back() const { return data_[size_ - 1]; }
  std::string_view view() const { return {data_.get(), size_}; }
  std::span<const uint8_t> bytes() const {
    return {reinterpret_cast<const uint8_t*>(data_.get()), size_};
  }

  void append(std::string_view text);
  void append(std::span<const uint8_t> bytes) {
    append(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  void push_back(char c) { append(std::string_view(&c, 1)); }
  // Keeps the first |n| bytes (n <= size()); the memory stays.
  void truncate(size_t n) { size_ = n; }
  // Drops every byte and frees the memory.
  void clear() {
    data_.reset();
    size_ = 0;
    capacity_ = 0;
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace imapfront::imap
