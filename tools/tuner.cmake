# policy/ commands: KSM knobs and the KSM tuner daemon.
list(APPEND NUMAKSM_TOOL_SOURCES cmd-ksm.c cmd-tuned.c)
# The tuner daemon tells systemd it is ready, reloading and stopping
# (sd_notify, Type=notify): libsystemd is the reference implementation of
# that protocol and is on every systemd host.
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
list(APPEND NUMAKSM_TOOL_LIBRARIES PkgConfig::SYSTEMD)
