# Every dependency is found here, through pkg-config.
find_package(PkgConfig REQUIRED)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBGIT2 REQUIRED IMPORTED_TARGET libgit2)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET openssl)
pkg_check_modules(CRITERION IMPORTED_TARGET criterion)
# The HTTP server library and its TLS: used by controlplane/http alone (and
# the benchmark baseline, which must stay the floor of the same design).
pkg_check_modules(MICROHTTPD REQUIRED IMPORTED_TARGET libmicrohttpd>=0.9.75)
pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls)
add_library(fl_microhttpd INTERFACE)
target_link_libraries(fl_microhttpd INTERFACE PkgConfig::MICROHTTPD PkgConfig::GNUTLS)


find_package(Threads REQUIRED)
