# Cross build for 64-bit Arm Linux with Debian's cross compiler, tests run under qemu user mode:
#   cmake -S . -B build-arm -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# Needs g++-aarch64-linux-gnu, qemu-user and the arm64 -dev packages of lfmd's libraries
# (dpkg --add-architecture arm64; libpcre2-dev:arm64 libcpp-httplib-dev:arm64; see
# scripts/install-deps.sh --arm). Header-only dependencies are shared with the host.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# ctest runs every test executable through qemu. The run-time libraries are the multiarch arm64
# ones (/lib/aarch64-linux-gnu: libc6:arm64 comes with the -dev packages above), not the cross
# compiler's copy under /usr/aarch64-linux-gnu: with -L there, qemu pairs that older ld.so with
# the newer multiarch libc.so.6 and every program that starts a thread hangs.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/)
# Libraries: only Debian's multiarch arm64 packages (pkg-config looks nowhere else).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
