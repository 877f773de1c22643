# Sanitizer and fuzzing flags for the whole tree (included by the top-level
# CMakeLists.txt). The e2e tests run the imapfront binary, so the binary and
# the libraries must be built with the same sanitizer as the tests.
#
#   IMAPFRONT_SANITIZE=address (or ON)  ASan + UBSan, leaks included
#   IMAPFRONT_SANITIZE=thread           TSan
#   IMAPFRONT_FUZZ=ON                   clang: libFuzzer coverage + ASan + UBSan
#                                       everywhere; fuzz targets link libFuzzer

string(TOLOWER "${IMAPFRONT_SANITIZE}" _imapfront_sanitize)
if(_imapfront_sanitize MATCHES "^(|off|no|false|0|n)$")
  set(_imapfront_sanitize "")
elseif(_imapfront_sanitize MATCHES "^(on|yes|true|1|y|address|asan)$")
  set(_imapfront_sanitize address)
elseif(_imapfront_sanitize MATCHES "^(thread|tsan)$")
  set(_imapfront_sanitize thread)
else()
  message(FATAL_ERROR "IMAPFRONT_SANITIZE=${IMAPFRONT_SANITIZE}: expected \"\", address or thread")
endif()

if(IMAPFRONT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "IMAPFRONT_FUZZ needs clang (CC=clang CXX=clang++, or the fuzz preset)")
  endif()
  if(_imapfront_sanitize STREQUAL "thread")
    message(FATAL_ERROR "IMAPFRONT_FUZZ runs with ASan+UBSan; it cannot be combined with TSan")
  endif()
  set(_imapfront_sanitize address)
  # Coverage instrumentation for everything; libFuzzer's main only in the fuzz
  # targets (tests/CMakeLists.txt links them with -fsanitize=fuzzer).
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(_imapfront_sanitize STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(_imapfront_sanitize STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
set(IMAPFRONT_SANITIZERS "${_imapfront_sanitize}")
if(IMAPFRONT_SANITIZERS)
  message(STATUS "imapfront sanitizers: ${IMAPFRONT_SANITIZERS}")
endif()
