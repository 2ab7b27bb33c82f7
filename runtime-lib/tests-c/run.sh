#!/usr/bin/env bash
# Builds libwasmc_rt.a for each ISA, links it with the fake module (fake.c) once per
# scenario and checks exit status and diagnostics, then runs the WASI layer's check
# (wasi.c) over a sandbox of files and links. x86_64 runs natively (or under
# qemu-x86_64 elsewhere), aarch64 and riscv64 under qemu-user.
#
#   tests-c/run.sh [x86_64|aarch64|riscv64 ...]      (default: all three)
#   RUNTIME_DIR=/path/to/runtime-lib tests-c/run.sh   (build another checkout)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rt=${RUNTIME_DIR:-$(dirname "$here")}
out=${OUT_DIR:-$rt/target/tests-c}
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

# scenario | exit status | expected stderr ('~' prefix = prefix match) | expected stdout
#   [| environment (the only variables set) | arguments]
cases=(
  "0|0||hello from fake module"
  "1|134|wasmc: trap: unreachable in function f_trap (#1)|"
  "2|134|wasmc: trap: out of bounds memory access in function f_oob (#2)|"
  "3|134|wasmc: trap: call stack exhausted in function f_rec (#3)|"
  "4|134|wasmc: trap: call stack exhausted in function f_rec (#3)|"
  "5|134|wasmc: trap: unreachable|"
  "6|0||memory ok"
  "7|0||tables ok"
  "8|134|wasmc: trap: out of bounds memory access in function func4 (#4)|"
  "9|134|wasmc: trap: out of bounds table access in function func4 (#4)|"
  "10|134|wasmc: trap: out of bounds memory access in function func4 (#4)|"
  "11|134|wasmc: trap: out of bounds memory access in function func4 (#4)|"
  "12|134|wasmc: trap: out of bounds table access in function func4 (#4)|"
  "13|134|wasmc: trap: out of bounds table access in function func4 (#4)|"
  "14|125|~wasmc: internal error: signal 11 at pc 0x|"
  "noentry|125|wasmc: module has no _start export|"
  "16|0||4gib ok"
  "15|0||args ok|FAKE_VAR=yes WASMC_FOO=1|a bcd"
  "0|125|~wasmc: ||WASMC_DIRS=/nonexistent/wasmc-test-dir"
)

for isa in "${isas[@]}"; do
  case $isa in
    x86_64)  target=x86_64-unknown-linux-gnu; triple=x86_64-linux-gnu; cflags=""; run=()
             [ "$(uname -m)" = x86_64 ] || run=(qemu-x86_64) ;;
    aarch64) target=aarch64-unknown-linux-gnu; triple=aarch64-linux-gnu; cflags=""; run=(qemu-aarch64) ;;
    riscv64) target=riscv64gc-unknown-linux-gnu; triple=riscv64-linux-gnu; cflags="-march=rv64gc -mabi=lp64d"; run=(qemu-riscv64) ;;
    *) echo "unknown ISA $isa"; exit 2 ;;
  esac
  (cd "$rt" && cargo build --quiet --release --target "$target") || { echo "FAIL $isa: runtime build"; failures=$((failures+1)); continue; }
  lib="$rt/target/$target/release/libwasmc_rt.a"
  for c in "${cases[@]}"; do
    IFS="|" read -r scen code err want_out envs args <<<"$c"
    if [ "$scen" = noentry ]; then def="-DSCEN=0 -DNO_ENTRY"; else def="-DSCEN=$scen"; fi
    exe="$out/$isa-$scen"; name="$isa/$scen${envs:+ [$envs]}"
    "$clang" --target=$triple $cflags -O1 -DWASMC_ABI_VERSION="$abi" -ffreestanding -fno-stack-protector -fno-asynchronous-unwind-tables -fno-optimize-sibling-calls \
      $def -c "$here/fake.c" -o "$exe.o" || { echo "FAIL $isa/$scen: compile"; failures=$((failures+1)); continue; }
    "$lld" -flavor gnu -static --gc-sections -o "$exe" "$exe.o" "$lib" || { echo "FAIL $isa/$scen: link"; failures=$((failures+1)); continue; }
    # shellcheck disable=SC2086
    got_out=$(env -i $envs timeout 60 "${run[@]}" "$exe" $args 2>"$exe.err"); got=$?
    got_err=$(cat "$exe.err")
    ok=1
    [ "$got" = "$code" ] || ok=0
    if [ "${err:0:1}" = "~" ]; then [[ "$got_err" == "${err:1}"* ]] || ok=0; else [ "$got_err" = "$err" ] || ok=0; fi
    [ "$got_out" = "$want_out" ] || ok=0
    if [ $ok = 1 ]; then echo "ok   $name"; else
      echo "FAIL $name: exit $got (want $code)"; echo "  stderr: $got_err"; echo "  stdout: $got_out"
      failures=$((failures+1)); fi
  done
  # The WASI layer, over a sandbox with links out of it, absolute and in a loop.
  exe="$out/$isa-wasi"
  "$clang" --target=$triple $cflags -O1 -DWASMC_ABI_VERSION="$abi" -ffreestanding -fno-stack-protector -fno-asynchronous-unwind-tables \
    -c "$here/wasi.c" -o "$exe.o" && "$lld" -flavor gnu -static --gc-sections -o "$exe" "$exe.o" "$lib" \
    || { echo "FAIL $isa/wasi: build"; failures=$((failures+1)); continue; }
  sb="$out/sb-$isa"
  rm -rf "$sb" && mkdir -p "$sb/root/sub/deeper" && echo outside > "$sb/secret" && echo in > "$sb/root/sub/a.txt"
  ln -s ../.. "$sb/root/sub/up2"; ln -s /etc "$sb/root/abs"; ln -s loop2 "$sb/root/loop1"; ln -s loop1 "$sb/root/loop2"
  ln -s sub/a.txt "$sb/root/link_f"; ln -s sub "$sb/root/sub_link"
  got_out=$(env -i WASMC_DIRS="$sb/root::/sb" timeout 60 "${run[@]}" "$exe" 2>&1); got=$?
  if [ "$got_out" = "wasi ok" ] && [ $got = 7 ]; then echo "ok   $isa/wasi"; else
    echo "FAIL $isa/wasi: exit $got (want 7): $got_out"; failures=$((failures+1)); fi
  size=$(stat -c %s "$out/$isa-0")
  echo "     $isa hello executable: $size bytes"
done
[ $failures = 0 ] && echo "all passed" || { echo "$failures failed"; exit 1; }
