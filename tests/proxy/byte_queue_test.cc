#include <doctest/doctest.h>

#include <random>
#include <string>

#include "proxy/byte_queue.h"

namespace imapfront {
namespace {

std::string Contents(const ByteQueue& q) {
  std::span<const uint8_t> spans[64];
  size_t n = q.Gather(spans);
  std::string out;
  for (size_t i = 0; i < n; ++i)
    out.append(reinterpret_cast<const char*>(spans[i].data()), spans[i].size());
  return out;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST_CASE("append, gather and consume across chunk boundaries") {
  ByteQueue q;
  CHECK(q.empty());
  std::string all;
  for (int i = 0; i < 100; ++i) {
    std::string piece(static_cast<size_t>(997 + i * 13), static_cast<char>('a' + i % 26));
    q.Append(Bytes(piece));
    all += piece;
  }
  CHECK(q.size() == all.size());
  CHECK(Contents(q) == all);
  size_t consumed = 0;
  for (size_t step : {1u, 16000u, 16368u, 5u, 40000u}) {
    q.Consume(step);
    consumed += step;
    CHECK(Contents(q) == all.substr(consumed));
    CHECK(q.size() == all.size() - consumed);
  }
  q.Consume(q.size());
  CHECK(q.empty());
  CHECK(Contents(q).empty());
  q.Append(Bytes("again"));
  CHECK(Contents(q) == "again");
}

TEST_CASE("gather stops at the span array's size, in order") {
  ByteQueue q;
  std::string big(ByteQueue::kChunkBytes * 3, 'z');
  q.Append(Bytes(big));
  std::span<const uint8_t> spans[2];
  CHECK(q.Gather(spans) == 2);
  CHECK(spans[0].size() + spans[1].size() < big.size());
}

TEST_CASE("spans handed out stay valid while more is appended") {
  ByteQueue q;
  q.Append(Bytes("first"));
  std::span<const uint8_t> spans[4];
  REQUIRE(q.Gather(spans) == 1);
  const uint8_t* p = spans[0].data();
  q.Append(Bytes(std::string(50000, 'x')));
  CHECK(std::string(reinterpret_cast<const char*>(p), 5) == "first");
}

TEST_CASE("random appends, consumes and clears match a string model") {
  std::mt19937 rng(14);
  ByteQueue q;
  std::string model;
  for (int round = 0; round < 3000; ++round) {
    const auto op = rng() % 10;
    if (op < 5) {
      std::string piece(rng() % 40000, static_cast<char>('a' + round % 26));
      q.Append(Bytes(piece));
      model += piece;
    } else if (op < 9) {
      const size_t n = model.empty() ? 0 : rng() % (model.size() + 1);
      q.Consume(n);
      model.erase(0, n);
    } else {
      q.Clear();
      model.clear();
    }
    REQUIRE(q.size() == model.size());
    REQUIRE(q.empty() == model.empty());
    if (model.size() <= 64 * 16000) REQUIRE(Contents(q) == model);
  }
}

}  // namespace
}  // namespace imapfront
