// Groups of libuv handles that share one owner. libuv may touch a handle
// until its close callback has run, so an owner of several handles may be
// freed only after the last of those callbacks: the group counts them,
// closes each at most once, and tells the owner when all are closed.
//
// The owner provides `HandleGroup<Owner>& handle_group()` and
// `void OnHandlesClosed()` (which may delete the owner). Each handle's
// `data` points to the owner, for its other callbacks too.
#pragma once

#include <uv.h>

namespace imapfront {

template <class Owner>
class HandleGroup {
 public:
  explicit HandleGroup(Owner* owner) : owner_(owner) {}
  HandleGroup(const HandleGroup&) = delete;
  HandleGroup& operator=(const HandleGroup&) = delete;

  // |handle| has just been initialized (uv_*_init).
  template <class H>
  void Add(H* handle) {
    AsHandle(handle)->data = owner_;
    ++open_;
  }

  // Closes |handle| unless it is closing already. With |callback|, that
  // callback runs instead of the group's and must call Closed() itself.
  template <class H>
  void Close(H* handle, uv_close_cb callback = nullptr) {
    uv_handle_t* h = AsHandle(handle);
    if (uv_is_closing(h)) return;
    uv_close(h, callback ? callback : &HandleGroup::OnClosed);
  }

  // One handle's close callback has run. The owner may be gone afterwards.
  void Closed() {
    if (--open_ == 0) owner_->OnHandlesClosed();
  }

  int open() const { return open_; }

  template <class H>
  static uv_handle_t* AsHandle(H* handle) {
    return reinterpret_cast<uv_handle_t*>(handle);
  }

 private:
  static void OnClosed(uv_handle_t* handle) {
    static_cast<Owner*>(handle->data)->handle_group().Closed();
  }

  Owner* owner_;
  int open_ = 0;
};

}  // namespace imapfront
