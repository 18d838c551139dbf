# libvirt: `pin plan --format libvirt|virsh` writes a plan as domain XML
# (libxml2, which libvirt itself parses with) and `libvirt apply` merges it
# into a domain through libvirt's C API.  Only the tool links them: the
# library knows nothing of libvirt.
pkg_check_modules(LIBVIRT REQUIRED IMPORTED_TARGET libvirt)
pkg_check_modules(LIBXML2 REQUIRED IMPORTED_TARGET libxml-2.0)
list(APPEND NUMAKSM_TOOL_SOURCES libvirt-xml.c cmd-libvirt.c)
list(APPEND NUMAKSM_TOOL_LIBRARIES PkgConfig::LIBVIRT PkgConfig::LIBXML2)
