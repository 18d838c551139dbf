# The Prometheus exporter: libmicrohttpd serves /metrics (one polling
# thread, connection limits and timeouts it already does right).
# Its web config (TLS, basic auth) as Prometheus exporters read theirs:
# libyaml for the YAML, libcrypt (libxcrypt) for the bcrypt hashes.
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)
pkg_check_modules(XCRYPT REQUIRED IMPORTED_TARGET libxcrypt)
list(APPEND NUMAKSM_TOOL_SOURCES cmd-exporter.c metrics.c web-config.c)
list(APPEND NUMAKSM_TOOL_LIBRARIES PkgConfig::MHD PkgConfig::YAML PkgConfig::XCRYPT)
