# The direction of dependencies (DESIGN.md), checked on the source text:
#   imap/  includes no libuv (<uv.h>, <uv/...>), no OpenSSL/BoringSSL
#          (<openssl/...>), nothing from tls/ or proxy/;
#   tls/   includes no libuv, nothing from imap/ or proxy/;
#   proxy/net/ includes no libuv, no OpenSSL, nothing from imap/, tls/ or
#          the rest of proxy/ (its codecs are pure).
# The CMake targets enforce most of this at link time; this catches an
# include that happens to resolve anyway (all folders share one include root).
#
#   cmake -DSOURCE_DIR=<repo> -P check_includes.cmake     check the tree
#   cmake -DSELF_TEST=ON -DWORK_DIR=<dir> -P check_includes.cmake
#       build a tree with one violation per rule and check each is caught
cmake_minimum_required(VERSION 3.18)

# Appends to |out_var| one "file: #include ... (reason)" per violation
# among the files of |root|/|folder|.
function(check_folder root folder out_var)
  if(folder STREQUAL "imap")
    set(forbidden "^uv\\.h$" "^uv/" "^openssl/" "^tls/" "^proxy/")
    set(reasons "libuv" "libuv" "OpenSSL/BoringSSL" "tls/" "proxy/")
  elseif(folder STREQUAL "tls")
    set(forbidden "^uv\\.h$" "^uv/" "^imap/" "^proxy/")
    set(reasons "libuv" "libuv" "imap/" "proxy/")
  elseif(folder STREQUAL "proxy/net")
    set(forbidden "^uv\\.h$" "^uv/" "^openssl/" "^imap/" "^tls/"
                  "^proxy/([^n]|n[^e]|ne[^t]|net[^/])")
    set(reasons "libuv" "libuv" "OpenSSL/BoringSSL" "imap/" "tls/" "proxy/ outside proxy/net/")
  else()
    message(FATAL_ERROR "no rules for ${folder}/")
  endif()
  set(found ${${out_var}})
  file(GLOB_RECURSE files LIST_DIRECTORIES false
       "${root}/${folder}/*.h" "${root}/${folder}/*.hh" "${root}/${folder}/*.hpp"
       "${root}/${folder}/*.cc" "${root}/${folder}/*.cpp" "${root}/${folder}/*.inc")
  list(LENGTH forbidden rule_count)
  math(EXPR last_rule "${rule_count} - 1")
  foreach(file IN LISTS files)
    # Only the #include lines: other lines may hold ';' or '[' that CMake
    # lists would misread.
    file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include")
    foreach(line IN LISTS lines)
      if(NOT line MATCHES "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
        continue()
      endif()
      set(header "${CMAKE_MATCH_1}")
      # "../proxy/x.h" from imap/ is still proxy/.
      string(REGEX REPLACE "^(\\./|\\.\\./)+" "" header "${header}")
      foreach(i RANGE ${last_rule})
        list(GET forbidden ${i} pattern)
        if(header MATCHES "${pattern}")
          list(GET reasons ${i} reason)
          file(RELATIVE_PATH rel "${root}" "${file}")
          list(APPEND found "${rel}: ${line} (${folder}/ must not include ${reason})")
        endif()
      endforeach()
    endforeach()
  endforeach()
  set(${out_var} ${found} PARENT_SCOPE)
endfunction()

function(check_tree root out_var)
  set(found "")
  check_folder("${root}" imap found)
  check_folder("${root}" tls found)
  check_folder("${root}" proxy/net found)
  set(${out_var} ${found} PARENT_SCOPE)
endfunction()

if(SELF_TEST)
  if(NOT WORK_DIR)
    message(FATAL_ERROR "SELF_TEST needs -DWORK_DIR=<scratch directory>")
  endif()
  set(tree "${WORK_DIR}/layering_self_test")
  file(REMOVE_RECURSE "${tree}")
  file(WRITE "${tree}/imap/clean.h" "#pragma once\n#include <string>\n#include \"imap/literal.h\"\n")
  file(WRITE "${tree}/tls/clean.cc" "#include <openssl/ssl.h>\n#include \"tls/context.h\"\n")
  # One violation per rule; each line below must be reported.
  set(bad_imap "#include <uv.h>" "#  include <uv/unix.h>" "#include <openssl/ssl.h>"
               "#include \"tls/endpoint.h\"" "#include \"proxy/session.h\""
               "#include \"../proxy/log.h\"")
  set(bad_tls "#include \"uv.h\"" "#include <uv/errno.h>" "#include \"imap/literal.h\""
              "#include <proxy/stats.h>")
  file(WRITE "${tree}/proxy/net/clean.h" "#pragma once\n#include <arpa/inet.h>\n#include \"proxy/net/cidr.h\"\n")
  set(bad_net "#include <uv.h>" "#include <openssl/bytestring.h>" "#include \"imap/bytes.h\""
              "#include \"tls/base64.h\"" "#include \"proxy/session.h\"")
  string(REPLACE ";" "\n" text "${bad_net}")
  file(WRITE "${tree}/proxy/net/bad.cc" "// bad\n${text}\n")
  string(REPLACE ";" "\n" text "${bad_imap}")
  file(WRITE "${tree}/imap/sub/bad.cc" "// bad\n${text}\n")
  string(REPLACE ";" "\n" text "${bad_tls}")
  file(WRITE "${tree}/tls/bad.h" "#pragma once\n${text}\n")
  check_tree("${tree}" found)
  list(LENGTH found got)
  list(LENGTH bad_imap n_imap)
  list(LENGTH bad_tls n_tls)
  list(LENGTH bad_net n_net)
  math(EXPR want "${n_imap} + ${n_tls} + ${n_net}")
  string(REPLACE ";" "\n  " shown "${found}")
  if(NOT got EQUAL want)
    message(FATAL_ERROR "self test: expected ${want} violations, found ${got}:\n  ${shown}")
  endif()
  foreach(f IN LISTS found)
    if(NOT f MATCHES "/bad\\.(cc|h): ")
      message(FATAL_ERROR "self test: a clean file was reported: ${f}")
    endif()
  endforeach()
  file(REMOVE_RECURSE "${tree}")
  message(STATUS "layering self test: all ${want} violations caught")
  return()
endif()

if(NOT SOURCE_DIR)
  message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=<repo> -P check_includes.cmake")
endif()
check_tree("${SOURCE_DIR}" found)
if(found)
  list(LENGTH found n)
  string(REPLACE ";" "\n  " shown "${found}")
  message(FATAL_ERROR "${n} include(s) against the direction of dependencies (DESIGN.md):\n  ${shown}")
endif()
message(STATUS "layering: imap/, tls/ and proxy/net/ include nothing they must not")
