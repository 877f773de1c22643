# `cpack -G DEB`: a Debian 12 package of what cmake/install.cmake installs.
# Configure with the "package" preset (Release, prefix /usr, no tests):
#   cmake --preset package && cmake --build --preset package && (cd build-package && cpack -G DEB)
# deploy/package-test.sh builds it, runs lintian, installs, checks, removes.

# 0.1.0-107-g8d02c6d (git describe) -> 0.1.0+git107.g8d02c6d: a native
# Debian version (no "-"), ordered by the commit count.
string(REGEX REPLACE "^([0-9.]+)-([0-9]+)-g([0-9a-f]+)" "\\1+git\\2.g\\3" IMAPFRONT_DEB_VERSION
                     "${IMAPFRONT_VERSION_STRING}")
string(REPLACE "-" "." IMAPFRONT_DEB_VERSION "${IMAPFRONT_DEB_VERSION}")
set(IMAPFRONT_DEB_MAINTAINER "imapfront maintainers <imapfront@example.org>")
string(TIMESTAMP IMAPFRONT_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)

# Debian's changelog (native package: changelog.gz) and lintian overrides.
configure_file(${PROJECT_SOURCE_DIR}/deploy/package/changelog.in
               ${PROJECT_BINARY_DIR}/package/changelog @ONLY)
add_custom_command(
  OUTPUT ${PROJECT_BINARY_DIR}/package/changelog.gz
  COMMAND gzip -9nc ${PROJECT_BINARY_DIR}/package/changelog > ${PROJECT_BINARY_DIR}/package/changelog.gz
  DEPENDS ${PROJECT_BINARY_DIR}/package/changelog
  VERBATIM)
add_custom_target(package_changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/package/changelog.gz)
install(FILES ${PROJECT_BINARY_DIR}/package/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")  # a package's; lintian reads only /usr/share
  install(FILES ${PROJECT_SOURCE_DIR}/deploy/package/lintian-overrides
          DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME imapfront)
endif()

# Files under /etc are the operator's to edit: dpkg keeps their changes.
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "cpack: a .deb needs -DCMAKE_INSTALL_PREFIX=/usr (the preset \"package\")")
endif()
file(WRITE ${PROJECT_BINARY_DIR}/package/conffiles
     "${IMAPFRONT_CONFIG_DIR}/imapfront.json.example\n"
     "${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d/imapfront\n")

set(CPACK_PACKAGE_NAME imapfront)
set(CPACK_PACKAGE_VENDOR "imapfront maintainers")
set(CPACK_PACKAGE_CONTACT "${IMAPFRONT_DEB_MAINTAINER}")
set(CPACK_PACKAGE_VERSION "${IMAPFRONT_DEB_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "TLS-terminating IMAP proxy for plaintext-only IMAP servers")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_VERSION "${IMAPFRONT_DEB_VERSION}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${IMAPFRONT_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.org/imapfront")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "imapfront stands in front of IMAP servers that cannot be trusted with TLS:
clients speak IMAPS or STARTTLS to it, it speaks plaintext IMAP to the
backend, and every byte, literal and CR/LF arrives intact. It enforces
lifetime limits, routes by SNI, listener or user, can log users in itself,
emulates IDLE, UNSELECT, ID and SPECIAL-USE for old servers, speaks the
PROXY protocol, and reports through /stats and /metrics.")
# The libraries' packages come from dpkg-shlibdeps (libuv1,
# android-libboringssl, libsystemd0, libhttp-parser2.9, libc6, libstdc++6).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${IMAPFRONT_BORINGSSL_LIB_DIR}")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ssl-cert")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/deploy/package/postinst" "${PROJECT_SOURCE_DIR}/deploy/package/prerm"
    "${PROJECT_SOURCE_DIR}/deploy/package/postrm" "${PROJECT_BINARY_DIR}/package/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
