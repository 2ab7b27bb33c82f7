#!/usr/bin/env bash
# Runs wasi_fake.c (the WASI layer driven directly, no compiler needed) on each ISA:
#   runtime-lib/src/wasi/xtest/run.sh [x86_64|aarch64|riscv64 ...]
# Expects "wasi ok" on stdout and exit status 7 (from proc_exit).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rt=$(cd "$here/../../.." && pwd)
out=${OUT_DIR:-$rt/target/wasi-xtest}
clang=${CLANG:-$(command -v clang-16 || command -v clang)}
lld="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
[ -x "$lld" ] || lld="ld.lld"
isas=("$@")
[ ${#isas[@]} -gt 0 ] || isas=(x86_64 aarch64 riscv64)
mkdir -p "$out"
failures=0
# The fakes take the ABI version from abi-spec, the one place it is defined.
abi=$(sed -n 's/^pub const ABI_VERSION: u32 = \([0-9]*\);.*/\1/p' "$rt/../abi-spec/src/lib.rs")
[ -n "$abi" ] || { echo "cannot read ABI_VERSION from abi-spec"; exit 2; }
for isa in "${isas[@]}"; do
  case $isa in
    x86_64)  target=x86_64-unknown-linux-gnu; triple=x86_64-linux-gnu; cflags=""; run=()
             [ "$(uname -m)" = x86_64 ] || run=(qemu-x86_64) ;;
    aarch64) target=aarch64-unknown-linux-gnu; triple=aarch64-linux-gnu; cflags=""; run=(qemu-aarch64) ;;
    riscv64) target=riscv64gc-unknown-linux-gnu; triple=riscv64-linux-gnu; cflags="-march=rv64gc -mabi=lp64d"; run=(qemu-riscv64) ;;
    *) echo "unknown ISA $isa"; exit 2 ;;
  esac
  (cd "$rt" && cargo build --quiet --release --target "$target") || { echo "FAIL $isa: runtime build"; failures=$((failures+1)); continue; }
  exe="$out/wasi-$isa"
  # shellcheck disable=SC2086
  "$clang" --target=$triple $cflags -O1 -DWASMC_ABI_VERSION="$abi" -ffreestanding -fno-stack-protector -fno-asynchronous-unwind-tables \
    -c "$here/wasi_fake.c" -o "$exe.o" && "$lld" -flavor gnu -static --gc-sections -o "$exe" "$exe.o" \
    "$rt/target/$target/release/libwasmc_rt.a" || { echo "FAIL $isa: build"; failures=$((failures+1)); continue; }
  sb="$out/sb-$isa"
  rm -rf "$sb" && mkdir -p "$sb/root/sub/deeper" && echo outside > "$sb/secret" && echo in > "$sb/root/sub/a.txt"
  ln -s ../.. "$sb/root/sub/up2"; ln -s /etc "$sb/root/abs"; ln -s loop2 "$sb/root/loop1"; ln -s loop1 "$sb/root/loop2"
  ln -s sub/a.txt "$sb/root/link_f"; ln -s sub "$sb/root/sub_link"
  got=$(env -i WASMC_DIRS="$sb/root::/sb" timeout 60 "${run[@]}" "$exe" 2>&1); code=$?
  if [ "$got" = "wasi ok" ] && [ $code = 7 ]; then echo "ok   $isa"; else
    echo "FAIL $isa: exit $code: $got"; failures=$((failures+1)); fi
done
[ $failures = 0 ] && echo "all passed" || { echo "$failures failed"; exit 1; }
