# `cmake --install`: the binary, the man pages, the systemd unit, the
# logrotate file, the example config (GNUInstallDirs; a package is configured
# with -DCMAKE_INSTALL_PREFIX=/usr, which puts the config under /etc).
include(GNUInstallDirs)

# Prefix /usr (the package) puts the config under /etc and the unit under
# /lib/systemd/system, as Debian does; any other prefix keeps everything
# under it (PREFIX/etc/imapfront, PREFIX/lib/systemd/system). The unit names
# the configure-time paths: choose the prefix when configuring
# (-DCMAKE_INSTALL_PREFIX=...), not with `cmake --install --prefix`.
set(IMAPFRONT_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/imapfront")
set(IMAPFRONT_SYSTEMD_UNIT_DIR "" CACHE PATH
    "Where the systemd unit goes (empty: /lib/systemd/system for prefix /usr, else PREFIX/lib/systemd/system)")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_etc_destination "/etc")
  set(_unit_destination "/lib/systemd/system")
else()
  set(_etc_destination "${CMAKE_INSTALL_SYSCONFDIR}")
  set(_unit_destination "lib/systemd/system")
endif()
if(IMAPFRONT_SYSTEMD_UNIT_DIR)
  set(_unit_destination "${IMAPFRONT_SYSTEMD_UNIT_DIR}")
endif()

option(IMAPFRONT_MANPAGES "Build and install imapfront(8) and imapfront.json(5) (needs scdoc)" ON)

install(TARGETS imapfront RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

configure_file(${PROJECT_SOURCE_DIR}/deploy/package/imapfront.service.in
               ${PROJECT_BINARY_DIR}/package/imapfront.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/package/imapfront.service
        DESTINATION ${_unit_destination})
install(FILES ${PROJECT_SOURCE_DIR}/deploy/package/imapfront.logrotate
        DESTINATION ${_etc_destination}/logrotate.d RENAME imapfront)
# The example, twice: beside the real config (which the operator creates:
# the unit waits for it) and with the documentation.
install(FILES ${PROJECT_SOURCE_DIR}/deploy/package/imapfront.json.example
        DESTINATION ${_etc_destination}/imapfront)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/package/imapfront.json.example
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples RENAME imapfront.json)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/package/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

if(IMAPFRONT_MANPAGES)
  find_program(SCDOC scdoc)
  find_program(GZIP gzip)
  if(NOT SCDOC OR NOT GZIP)
    message(FATAL_ERROR "scdoc and gzip build the man pages: run deploy/install-deps.sh "
                        "(or configure with -DIMAPFRONT_MANPAGES=OFF)")
  endif()
  set(_man_outputs)
  foreach(page imapfront.8 imapfront.json.5)
    set(_src ${PROJECT_SOURCE_DIR}/deploy/man/${page}.scd)
    set(_out ${PROJECT_BINARY_DIR}/man/${page}.gz)
    add_custom_command(
      OUTPUT ${_out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
      COMMAND sh -c "'${SCDOC}' < '${_src}' > '${PROJECT_BINARY_DIR}/man/${page}'"
      COMMAND ${GZIP} -9nf ${PROJECT_BINARY_DIR}/man/${page}
      DEPENDS ${_src}
      COMMENT "scdoc ${page}"
      VERBATIM)
    list(APPEND _man_outputs ${_out})
    string(REGEX MATCH "[0-9]$" _section ${page})
    install(FILES ${_out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${_section})
  endforeach()
  add_custom_target(manpages ALL DEPENDS ${_man_outputs})
endif()
