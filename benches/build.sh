#!/bin/sh
# Rebuilds the committed benchmark modules from their C sources (run from anywhere).
# Same flags as the test fixtures (`cargo xtask fixtures`): wasm32-wasi, -O2, and
# --strip-debug so the name section stays but wasi-libc's DWARF does not.
# The real programs (bzip2, lz4, zstd) are not committed: `cargo xtask bench` fetches
# their sources from crates.io and builds them at bench time.
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-16}
for src in kernels/*.c checkpoint/*.c; do
    out="${src%.c}.wasm"
    echo "$CLANG --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-debug $src -o $out"
    "$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-debug "$src" -o "$out"
done
