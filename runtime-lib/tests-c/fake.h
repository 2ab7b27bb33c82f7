/* What the hand-made modules of the runtime's C tests share (fake.c, wasi.c): the
 * abi-spec layouts they fill in, raw syscalls, and failing with the line of a check.
 * Freestanding: no libc. */
#ifndef WASMC_FAKE_H
#define WASMC_FAKE_H
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

/* --- abi-spec layouts (abi-spec/src/vmctx.rs) --- */
typedef struct { u32 mig_state, pad0; u64 depth_left, memory_base, memory_size, module, runtime, reserved, countdown; } VmCtx;
typedef struct { u64 base, len; } TableInstance;
typedef struct { u64 code; u32 code_size, type_id; } FuncRecord;
typedef struct { u32 func_index, offset, code, pad; } TrapSite;
typedef struct { u64 ptr, len; } Bytes;
typedef struct { u64 min, max; u8 elem, pad[7]; } TableType;
typedef struct {
    u32 abi_version, migration_points;
    u8 module_hash[32];
    u64 funcs; u32 num_funcs, num_imported_funcs;
    u64 func_names, trap_sites; u32 num_trap_sites, num_globals;
    u64 global_types, global_mutable, tables; u32 num_tables, has_memory;
    u64 memory_min_pages, memory_max_pages, data_segments; u32 num_data_segments, num_elem_segments;
    u64 elem_segments, init, entry; u32 vmctx_size, pad;
    u64 point_types, point_types_index; u32 reserved, num_exports;
    u64 exports;
} ModuleDesc;


/* --- raw syscalls --- */
#if defined(__x86_64__)
#define NR_WRITE 1
#define NR_EXIT_GROUP 231
#define TRAP_INSN "ud2"
static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
#elif defined(__aarch64__)
#define NR_WRITE 64
#define NR_EXIT_GROUP 94
#define TRAP_INSN "udf #0"
static long sys3(long n, long a, long b, long c) {
    register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
#elif defined(__riscv)
#define NR_WRITE 64
#define NR_EXIT_GROUP 94
#define TRAP_INSN "unimp"
static long sys3(long n, long a, long b, long c) {
    register long a7 __asm__("a7") = n, a0 __asm__("a0") = a, a1 __asm__("a1") = b, a2 __asm__("a2") = c;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2) : "memory");
    return a0;
}
#endif

static unsigned long slen(const char *s) { unsigned long n = 0; while (s[n]) n++; return n; }
static void out(const char *s) { sys3(NR_WRITE, 1, (long)s, (long)slen(s)); }
static _Noreturn void fail(int line) {
    char b[16] = "FAIL ", *p = b + 5;
    char d[8]; int n = 0;
    do { d[n++] = '0' + line % 10; line /= 10; } while (line);
    while (n) *p++ = d[--n];
    *p++ = '\n';
    sys3(NR_WRITE, 2, (long)b, p - b);
    sys3(NR_EXIT_GROUP, 1, 0, 0);
    for (;;) {}
}
#define CHECK(c) do { if (!(c)) fail(__LINE__); } while (0)

/* vmctx header: abi_spec::VMCTX_HEADER_SIZE */
#define HEADER 64

/* "Generated" functions, kept in one section in source order so each one's code size
 * is the distance to the next. */
#define WASM __attribute__((noinline, section(".text.wasmfuncs")))
#endif
