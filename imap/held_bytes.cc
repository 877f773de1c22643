#include "imap/held_bytes.h"

#include <algorithm>
#include <cstring>

namespace imapfront::imap {

void HeldBytes::append(std::string_view text) {
  if (text.empty()) return;
  const size_t need = size_ + text.size();
  if (need > capacity_) {
    // Geometric growth, and room for a typical status line at once (a
    // framer that holds a line pushes it a byte at a time until it knows
    // what the line is).
    const size_t capacity = std::max({need, capacity_ * 2, size_t{64}});
    std::unique_ptr<char[]> grown(new char[capacity]);
    if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_);
    data_ = std::move(grown);
    capacity_ = capacity;
  }
  std::memcpy(data_.get() + size_, text.data(), text.size());
  size_ = need;
}

}  // namespace imapfront::imap
