# imapfront_version(<var>): the version string for `imapfront --version`.
#
# In a git checkout, at configure time: `git describe --tags --dirty` when a
# tag is reachable (a leading "v" dropped: v0.2.0-3-gabc1234 -> 0.2.0-3-gabc1234);
# with no tag, PROJECT_VERSION, the number of commits and the hash in the same
# shape (0.1.0-39-g93c8433, "-dirty" for uncommitted changes). Outside git
# (a source tarball), or without git: PROJECT_VERSION.
function(imapfront_version out)
  set(version "${PROJECT_VERSION}")
  find_package(Git QUIET)
  if(GIT_FOUND AND EXISTS "${PROJECT_SOURCE_DIR}/.git")
    execute_process(COMMAND "${GIT_EXECUTABLE}" describe --tags --dirty
                    WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
                    OUTPUT_VARIABLE described RESULT_VARIABLE tag_rc
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(tag_rc EQUAL 0 AND described)
      string(REGEX REPLACE "^v" "" version "${described}")
    else()
      execute_process(COMMAND "${GIT_EXECUTABLE}" describe --always --dirty
                      WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
                      OUTPUT_VARIABLE hash RESULT_VARIABLE hash_rc
                      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      execute_process(COMMAND "${GIT_EXECUTABLE}" rev-list --count HEAD
                      WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
                      OUTPUT_VARIABLE count RESULT_VARIABLE count_rc
                      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(hash_rc EQUAL 0 AND hash)
        if(count_rc EQUAL 0 AND count)
          set(version "${PROJECT_VERSION}-${count}-g${hash}")
        else()
          set(version "${PROJECT_VERSION}-g${hash}")
        endif()
      endif()
    endif()
  endif()
  set(${out} "${version}" PARENT_SCOPE)
endfunction()
