# SPDX-License-Identifier: MIT
# Writes the man page of one program from its --help and --version, with
# help2man. Run by cmake/packaging.cmake at build time:
#   cmake -DHELP2MAN=... -DPROGRAM=bin -DNAME="one line" -DINCLUDE=file.h2m
#         -DOUT=page.1 -DSOURCE_WWW=dir -DINSTALLED_WWW=dir
#         [-DSUBCOMMANDS="a;b"] -P manpage.cmake
# With SUBCOMMANDS, the page gets a COMMANDS section holding the --help of
# each `PROGRAM COMMAND`, verbatim.

get_filename_component(out_dir ${OUT} DIRECTORY)
file(MAKE_DIRECTORY ${out_dir})
file(READ ${INCLUDE} include_text)

# Roff for text shown as it is: backslashes escaped, and a line that starts
# with a period, an apostrophe or a bracket (help2man's section syntax)
# protected by \&.
function(roff_verbatim text out_var)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'[])" "\\1\\\\&\\2" text "${text}")
  set(${out_var} ".nf\n${text}.fi\n" PARENT_SCOPE)
endfunction()

if(SUBCOMMANDS)
  string(APPEND include_text "[COMMANDS]\n")
  foreach(command IN LISTS SUBCOMMANDS)
    execute_process(COMMAND ${PROGRAM} ${command} --help
      OUTPUT_VARIABLE help RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "${PROGRAM} ${command} --help failed (${rc})")
    endif()
    roff_verbatim("${help}" help_roff)
    string(APPEND include_text ".SS ${command}\n${help_roff}")
  endforeach()
endif()

set(include_file ${OUT}.h2m)
file(WRITE ${include_file} "${include_text}")
execute_process(
  COMMAND ${HELP2MAN} --no-info --name=${NAME} --include=${include_file} --output=${OUT}.tmp
    ${PROGRAM}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man ${PROGRAM} failed (${rc})")
endif()

# A program run from the build tree names the source tree's web root as
# the --www default; the installed program uses INSTALLED_WWW.
file(READ ${OUT}.tmp page)
string(REPLACE "${SOURCE_WWW}" "${INSTALLED_WWW}" page "${page}")
file(WRITE ${OUT} "${page}")
file(REMOVE ${OUT}.tmp ${include_file})
