#!/bin/sh
# Rebuilds the committed benchmark modules from their C sources (run from anywhere).
# Same flags as the test fixtures (`cargo xtask fixtures`): wasm32-wasi, -O2, and
# --strip-debug so the name section stays but wasi-libc's DWARF does not.
# The real programs (bzip2, lz4, zstd) are not committed: `cargo xtask bench` fetches
# their sources from crates.io and builds them at bench time.
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-16}
build() { # src out extra-flags...
    src=$1 out=$2; shift 2
    echo "$CLANG --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-debug $* $src -o $out"
    "$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-debug "$@" "$src" -o "$out"
}
for src in kernels/*.c; do build "$src" "${src%.c}.wasm"; done
build loopnests/loopnests.c loopnests/loopnests.wasm
# 10,000 frames of ckpt's recursion need more than wasi-libc's default 64 KiB shadow stack.
build checkpoint/ckpt.c checkpoint/ckpt.wasm -Wl,-z,stack-size=4194304
# The live program of `cargo xtask continuum` and the network migration tests.
build continuum/live.c continuum/live.wasm
