// The worker's deadline queue on a real libuv loop: deadlines fire in
// order, once, after their time; cancel and re-set; callbacks that set and
// cancel entries; many entries in random order; Close lets the loop close.
#include "proxy/deadline_queue.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <vector>

namespace imapfront {
namespace {

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  // Runs until nothing is pending; false if that took more than 5 s.
  bool RunAll() {
    const uint64_t start = uv_hrtime();
    while (uv_run(&loop, UV_RUN_ONCE) != 0) {
      if (uv_hrtime() - start > 5'000'000'000ull) return false;
    }
    return true;
  }
  int Close() {
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop);
  }
};

struct Item {
  DeadlineQueue::Entry entry;
  int id = 0;
  std::vector<int>* fired = nullptr;
  std::function<void(Item*)> then;
};

void Fire(void* data) {
  auto* item = static_cast<Item*>(data);
  item->fired->push_back(item->id);
  if (item->then) item->then(item);
}

Item MakeItem(int id, std::vector<int>* fired) {
  Item item;
  item.id = id;
  item.fired = fired;
  return item;
}

TEST_CASE("deadlines fire once each, earliest first, not before their time") {
  Loop l;
  DeadlineQueue q(&l.loop, &Fire);
  std::vector<int> fired;
  std::vector<Item> items;
  items.reserve(3);
  for (int id : {1, 2, 3}) items.push_back(MakeItem(id, &fired));
  for (Item& i : items) i.entry.data = &i;
  uv_update_time(&l.loop);
  const uint64_t start = uv_now(&l.loop);
  q.Set(&items[0].entry, 30);
  q.Set(&items[1].entry, 10);
  q.Set(&items[2].entry, 20);
  CHECK(q.size() == 3);
  REQUIRE(l.RunAll());
  CHECK(fired == std::vector<int>{2, 3, 1});
  CHECK(q.size() == 0);
  uv_update_time(&l.loop);
  CHECK(uv_now(&l.loop) - start >= 30);
  q.Close();
  CHECK(l.Close() == 0);
}

TEST_CASE("a cancelled deadline does not fire; a re-set one fires at its new time only") {
  Loop l;
  DeadlineQueue q(&l.loop, &Fire);
  std::vector<int> fired;
  Item a = MakeItem(1, &fired), b = MakeItem(2, &fired), c = MakeItem(3, &fired);
  a.entry.data = &a;
  b.entry.data = &b;
  c.entry.data = &c;
  q.Set(&a.entry, 5);
  q.Set(&b.entry, 10);
  q.Set(&c.entry, 15);
  q.Cancel(&a.entry);
  q.Cancel(&a.entry);  // twice: a no-op
  q.Set(&c.entry, 1);  // earlier than b now
  CHECK(!a.entry.queued());
  REQUIRE(l.RunAll());
  CHECK(fired == std::vector<int>{3, 2});
  q.Close();
  CHECK(l.Close() == 0);
}

TEST_CASE("a callback may set its own deadline again and cancel another's") {
  Loop l;
  DeadlineQueue q(&l.loop, &Fire);
  std::vector<int> fired;
  Item a = MakeItem(1, &fired), b = MakeItem(2, &fired);
  a.entry.data = &a;
  b.entry.data = &b;
  int rounds = 0;
  a.then = [&](Item* self) {
    if (++rounds < 3) q.Set(&self->entry, 0);  // 0 means the next iteration, not now
  };
  b.then = [&](Item*) { q.Cancel(&a.entry); };
  q.Set(&a.entry, 1);
  q.Set(&b.entry, 200);
  REQUIRE(l.RunAll());
  CHECK(fired == std::vector<int>{1, 1, 1, 2});
  q.Close();
  CHECK(l.Close() == 0);
}

TEST_CASE("a thousand deadlines in random order fire in deadline order") {
  Loop l;
  DeadlineQueue q(&l.loop, &Fire);
  std::vector<int> fired;
  std::vector<Item> items;
  items.reserve(1000);
  std::mt19937 rng(7);
  for (int id = 0; id < 1000; ++id) items.push_back(MakeItem(id, &fired));
  std::vector<uint64_t> due(1000);
  for (Item& i : items) {
    i.entry.data = &i;
    due[i.id] = 1 + rng() % 40;
    q.Set(&i.entry, due[i.id]);
  }
  // Cancel every tenth; move every seventh.
  for (Item& i : items) {
    if (i.id % 10 == 0) q.Cancel(&i.entry);
    if (i.id % 7 == 0 && i.id % 10 != 0) {
      due[i.id] = 1 + rng() % 40;
      q.Set(&i.entry, due[i.id]);
    }
  }
  REQUIRE(l.RunAll());
  CHECK(fired.size() == 900);
  for (size_t k = 1; k < fired.size(); ++k) {
    // Set at (nearly) the same loop time: due order, ties in any order.
    CHECK(items[fired[k - 1]].entry.at_ms <= items[fired[k]].entry.at_ms);
  }
  CHECK(std::none_of(fired.begin(), fired.end(), [](int id) { return id % 10 == 0; }));
  q.Close();
  CHECK(l.Close() == 0);
}

TEST_CASE("Close drops what is queued and lets the loop close") {
  Loop l;
  DeadlineQueue q(&l.loop, &Fire);
  std::vector<int> fired;
  Item a = MakeItem(1, &fired);
  a.entry.data = &a;
  q.Set(&a.entry, 60000);
  q.Close();
  CHECK(!a.entry.queued());
  CHECK(l.Close() == 0);
  CHECK(fired.empty());
}

TEST_CASE("a queue never used closes without a handle") {
  Loop l;
  DeadlineQueue q(&l.loop, &Fire);
  q.Close();
  CHECK(l.Close() == 0);
}

}  // namespace
}  // namespace imapfront
