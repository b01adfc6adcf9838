# SPDX-License-Identifier: MIT
# The libwebsockets the broker was checked against.
#
# broker/net/evloop.c calls _lws_plat_service_forced_tsi, a function liblws
# exports but declares only in its private headers, and several workarounds
# across the broker (docs/design.md section 5, and the source comments that
# name "lws 4.1") depend on how lws 4.1 behaves inside. They were checked
# against 4.1.x (Debian 12 ships 4.1.6).
# Another version may build and still misbehave at run time, so configuring
# stops here unless the user asks for it with -DWSB_LWS_UNCHECKED=ON.
#
# Include after pkg_check_modules(LWS ... libwebsockets).

option(WSB_LWS_UNCHECKED "Build against a libwebsockets other than 4.1.x, or one without the private symbol broker/net/evloop.c uses (at your own risk)" OFF)

set(WSB_LWS_CHECKED_SERIES "4.1")

# pkg-config may say "4.1.6-" (lws's own .pc appends a git suffix).
string(REGEX MATCH "^[0-9]+\\.[0-9]+" wsb_lws_series "${LWS_VERSION}")
if(NOT wsb_lws_series STREQUAL WSB_LWS_CHECKED_SERIES)
  set(wsb_lws_problem "libwebsockets ${LWS_VERSION} was found; wsbroker's workarounds were checked against ${WSB_LWS_CHECKED_SERIES}.x only (Debian 12: 4.1.6)")
endif()

# A private symbol cannot be seen by check_symbol_exists (no header declares
# it): compile a call with the same declaration evloop.c uses, and link it.
if(NOT wsb_lws_problem)
  include(CheckCSourceCompiles)
  include(CMakePushCheckState)
  cmake_push_check_state(RESET)
  set(CMAKE_REQUIRED_INCLUDES ${LWS_INCLUDE_DIRS})
  set(CMAKE_REQUIRED_LIBRARIES ${LWS_LINK_LIBRARIES})
  set(CMAKE_REQUIRED_QUIET ON)
  check_c_source_compiles("
#include <libwebsockets.h>
int _lws_plat_service_forced_tsi(struct lws_context *context, int tsi);
int main(void) { return _lws_plat_service_forced_tsi((struct lws_context *)0, 0) == 12345; }
" WSB_LWS_HAS_FORCED_SERVICE)
  cmake_pop_check_state()
  if(NOT WSB_LWS_HAS_FORCED_SERVICE)
    set(wsb_lws_problem "libwebsockets ${LWS_VERSION} does not export _lws_plat_service_forced_tsi, which broker/net/evloop.c calls")
  endif()
endif()

if(wsb_lws_problem)
  if(WSB_LWS_UNCHECKED)
    message(WARNING "${wsb_lws_problem}. Building anyway (WSB_LWS_UNCHECKED=ON): the broker may fail to link or misbehave.")
  else()
    message(FATAL_ERROR "${wsb_lws_problem}.\n"
      "Install libwebsockets 4.1.x (Debian 12: apt-get install libwebsockets-dev), "
      "point PKG_CONFIG_PATH at one, or configure with -DWSB_LWS_UNCHECKED=ON to build anyway at your own risk.")
  endif()
else()
  message(STATUS "libwebsockets ${LWS_VERSION}: the checked ${WSB_LWS_CHECKED_SERIES}.x series, private symbol present")
endif()
