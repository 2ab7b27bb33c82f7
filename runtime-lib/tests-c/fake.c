/* A fake "compiled module" for testing the runtime without the compiler: a hand-made
 * module descriptor (`wasmc_module`) and C functions standing in for generated code.
 *
 * One scenario per executable, chosen with -DSCEN=<n> (see run.sh). Checks inside a
 * scenario print "FAIL <line>" and exit 1; success is exit 0 or the expected trap.
 *
 * Built freestanding: no libc, raw syscalls, and the runtime's own mem* functions. */
#include "fake.h"

#define NUM_GLOBALS 2
#define NUM_TABLES 2
#define TABLE(v, i) ((TableInstance *)((u8 *)(v) + HEADER + NUM_GLOBALS * 16 + (i) * 16))

/* --- runtime entry points under test --- */
int wasmc_memory_grow(VmCtx *, int);
void wasmc_memory_fill(VmCtx *, int, int, int);
void wasmc_memory_copy(VmCtx *, int, int, int);
void wasmc_memory_init(VmCtx *, int, int, int, int);
void wasmc_data_drop(VmCtx *, int);
int wasmc_table_grow(VmCtx *, int, i64, int);
void wasmc_table_fill(VmCtx *, int, int, i64, int);
void wasmc_table_copy(VmCtx *, int, int, int, int, int);
void wasmc_table_init(VmCtx *, int, int, int, int, int);
void wasmc_elem_drop(VmCtx *, int);
_Noreturn void wasmc_trap(VmCtx *, int, int);
int wasmc_wasi_args_sizes_get(VmCtx *, u32, u32);
int wasmc_wasi_args_get(VmCtx *, u32, u32);
int wasmc_wasi_environ_sizes_get(VmCtx *, u32, u32);
int wasmc_wasi_environ_get(VmCtx *, u32, u32);
void *memcpy(void *, const void *, unsigned long);
void *memmove(void *, const void *, unsigned long);
void *memset(void *, int, unsigned long);
int memcmp(const void *, const void *, unsigned long);


/* --- "generated" functions (code sizes filled in by fake_init) --- */
extern char trap_label[];

WASM void f_trap(VmCtx *v) {
    (void)v;
    __asm__ volatile(".globl trap_label\ntrap_label:\n" TRAP_INSN);
    __builtin_unreachable();
}

WASM int f_oob(VmCtx *v) {
    volatile u8 *p = (volatile u8 *)(v->memory_base + (5ull << 30));
    return *p;
}

WASM int f_rec(VmCtx *v, int n) {
    volatile char buf[60000];
    buf[0] = (char)n;
    return f_rec(v, n + 1) + buf[0];
}

WASM void f_bulk(VmCtx *v, int what) {
    switch (what) {
    case 0: wasmc_memory_fill(v, 65530, 0, 7); break;   /* 1 byte past a 1-page memory */
    case 1: wasmc_table_copy(v, 0, 0, 0, 1, 2); break;  /* src 1 + 2 > len 2 */
    case 2: wasmc_memory_init(v, 0, 0, 0, 1); break;    /* dropped segment */
    case 3: wasmc_memory_copy(v, 0, -1, 1); break;      /* src 0xffffffff */
    case 4: wasmc_table_init(v, 0, 0, 0, 2, 2); break;  /* elems 2 + 2 > 3 */
    case 5: wasmc_table_fill(v, 1, 0, 0, 1); break;     /* empty table */
    }
}

static void scenario(VmCtx *v);
WASM void f_main(VmCtx *v) { scenario(v); }
WASM void f_end(void) {}

/* --- the descriptor --- */
static FuncRecord funcs[6];
static const Bytes names[6] = {
    {(u64) "imp", 3}, {(u64) "f_trap", 6}, {(u64) "f_oob", 5}, {(u64) "f_rec", 5}, {0, 0}, {(u64) "f_main", 6},
};
static TrapSite sites[2];
static const TableType tables[NUM_TABLES] = {{2, 10, 5, {0}}, {0, ~0ull, 6, {0}}};
static const u8 gtypes[NUM_GLOBALS] = {0, 1}, gmut[NUM_GLOBALS] = {1, 0};
static const Bytes data[2] = {{(u64) "hello", 5}, {(u64) "world!", 6}};
static u64 elem0[3];
static Bytes elems[1] = {{(u64)elem0, sizeof elem0}};

static void fake_init(VmCtx *v);

ModuleDesc wasmc_module = {
    .abi_version = WASMC_ABI_VERSION, /* abi_spec::ABI_VERSION, from run.sh */
    .funcs = (u64)funcs, .num_funcs = 6, .num_imported_funcs = 1,
    .func_names = (u64)names,
    .trap_sites = (u64)sites, .num_trap_sites = 2, .num_globals = NUM_GLOBALS,
    .global_types = (u64)gtypes, .global_mutable = (u64)gmut,
    .tables = (u64)tables, .num_tables = NUM_TABLES, .has_memory = 1,
    .memory_min_pages = 1, .memory_max_pages = SCEN == 16 ? ~0ull : 4,
    .data_segments = (u64)data, .num_data_segments = 2,
    .elem_segments = (u64)elems, .num_elem_segments = 1,
    .init = (u64)fake_init,
#ifndef NO_ENTRY
    .entry = (u64)f_main,
#endif
    .vmctx_size = HEADER + NUM_GLOBALS * 16 + NUM_TABLES * 16,
};

static int init_ran;

/* Stands in for the generated init: completes the descriptor (code sizes are only
 * known at run time here) and checks the instance the runtime built. */
static void fake_init(VmCtx *v) {
    void *code[] = {0, (void *)f_trap, (void *)f_oob, (void *)f_rec, (void *)f_bulk, (void *)f_main, (void *)f_end};
    for (int i = 1; i < 6; i++) {
        funcs[i].code = (u64)code[i];
        funcs[i].code_size = (u32)((char *)code[i + 1] - (char *)code[i]);
        CHECK((char *)code[i + 1] > (char *)code[i]);
    }
    sites[0] = (TrapSite){9, 0, 2, 0}; /* decoy in another function */
    sites[1] = (TrapSite){1, (u32)(trap_label - (char *)f_trap), 1, 0};
    for (int i = 0; i < 3; i++) elem0[i] = (u64)&funcs[i + 1];
    CHECK(v->depth_left == 100000);
    CHECK(v->module == (u64)&wasmc_module);
    CHECK(v->memory_size == 65536 && v->memory_base != 0);
    CHECK(v->runtime != 0 && v->mig_state == 0);
    u64 *g = (u64 *)((u8 *)v + HEADER);
    for (int i = 0; i < NUM_GLOBALS * 2; i++) CHECK(g[i] == 0);
    CHECK(TABLE(v, 0)->len == 2 && TABLE(v, 1)->len == 0);
    CHECK(((u64 *)TABLE(v, 0)->base)[0] == 0 && ((u64 *)TABLE(v, 0)->base)[1] == 0);
    init_ran = 1;
}

static void test_mem_functions(void) {
    static u8 a[300], b[300];
    for (int i = 0; i < 300; i++) a[i] = (u8)i;
    for (int off = 0; off < 9; off++) {
        for (int doff = 0; doff < 9; doff++) {
            memset(b, 0xee, sizeof b);
            memcpy(b + doff, a + off, 200);
            if (doff) CHECK(b[doff - 1] == 0xee);
            for (int i = 0; i < 200; i++) CHECK(b[doff + i] == (u8)(off + i));
            CHECK(b[doff + 200] == 0xee);
            CHECK(memcmp(b + doff, a + off, 200) == 0);
        }
    }
    /* overlapping moves both ways, aligned and not */
    for (int d = -9; d <= 9; d++) {
        for (int i = 0; i < 300; i++) b[i] = (u8)i;
        memmove(b + 50 + d, b + 50, 150);
        for (int i = 0; i < 150; i++) CHECK(b[50 + d + i] == (u8)(50 + i));
    }
    memset(b + 3, 7, 100);
    for (int i = 3; i < 103; i++) CHECK(b[i] == 7);
    CHECK(memcmp("abc", "abd", 3) < 0 && memcmp("abd", "abc", 3) > 0);
}

static void scenario(VmCtx *v) {
    CHECK(init_ran);
    u8 *m = (u8 *)v->memory_base;
#if SCEN == 0 /* hello: plain return exits 0 */
    out("hello from fake module\n");
#elif SCEN == 1 /* trap instruction registered in the trap table */
    f_trap(v);
#elif SCEN == 2 /* access in the memory reservation's guard */
    f_oob(v);
#elif SCEN == 3 /* native stack overflow into the guard region */
    f_rec(v, 0);
#elif SCEN == 4 /* explicit trap with a function index (depth counter) */
    wasmc_trap(v, 9, 3);
#elif SCEN == 5 /* explicit trap, function unknown */
    wasmc_trap(v, 1, -1);
#elif SCEN == 6 /* memory.grow, memory ops, mem* functions, idle migration poll */
    m[65535] = 1;
    CHECK(wasmc_memory_grow(v, 0) == 1);
    CHECK(wasmc_memory_grow(v, 2) == 1 && v->memory_size == 3 * 65536);
    m[3 * 65536 - 1] = 2;
    CHECK(wasmc_memory_grow(v, 2) == -1 && v->memory_size == 3 * 65536);
    CHECK(wasmc_memory_grow(v, -1) == -1);
    CHECK(wasmc_memory_grow(v, 1) == 3 && v->memory_size == 4 * 65536);
    CHECK(wasmc_memory_grow(v, 1) == -1);
    wasmc_memory_fill(v, 100, 0xab, 50);
    CHECK(m[99] == 0 && m[100] == 0xab && m[149] == 0xab && m[150] == 0);
    wasmc_memory_fill(v, 4 * 65536, 0, 0); /* empty at the end: fine */
    wasmc_memory_copy(v, 120, 100, 50);    /* overlapping */
    CHECK(m[99] == 0 && m[120] == 0xab && m[169] == 0xab && m[170] == 0);
    wasmc_memory_copy(v, 4 * 65536, 0, 0);
    wasmc_memory_init(v, 1, 1000, 2, 4);
    CHECK(memcmp(m + 1000, "rld!", 4) == 0);
    wasmc_memory_init(v, 1, 4 * 65536, 6, 0);
    wasmc_data_drop(v, 1);
    wasmc_memory_init(v, 1, 0, 0, 0);
    CHECK(v->mig_state == 0 && v->reserved == 0); /* idle */
    test_mem_functions();
    out("memory ok\n");
#elif SCEN == 7 /* table ops */
    TableInstance *t0 = TABLE(v, 0), *t1 = TABLE(v, 1);
    CHECK(wasmc_table_grow(v, 0, 0, 3) == 2 && t0->len == 5);
    CHECK(wasmc_table_grow(v, 0, 77, 5) == 5 && t0->len == 10);
    CHECK(((u64 *)t0->base)[9] == 77 && ((u64 *)t0->base)[4] == 0);
    CHECK(wasmc_table_grow(v, 0, 0, 1) == -1 && t0->len == 10);
    CHECK(wasmc_table_grow(v, 1, 5, 0) == 0);
    CHECK(wasmc_table_grow(v, 1, 5, 1000) == 0 && t1->len == 1000 && ((u64 *)t1->base)[999] == 5);
    CHECK(wasmc_table_grow(v, 1, 6, 100000) == 1000 && ((u64 *)t1->base)[999] == 5 && ((u64 *)t1->base)[100999] == 6);
    CHECK(wasmc_table_grow(v, 1, 0, 10000000) == -1 && t1->len == 101000);
    wasmc_table_init(v, 0, 0, 1, 0, 3);
    u64 *e = (u64 *)t0->base;
    CHECK(e[0] == 0 && e[1] == (u64)&funcs[1] && e[3] == (u64)&funcs[3] && e[4] == 0);
    wasmc_table_copy(v, 0, 0, 2, 1, 3); /* overlapping */
    CHECK(e[2] == (u64)&funcs[1] && e[4] == (u64)&funcs[3]);
    wasmc_table_copy(v, 1, 0, 0, 1, 2);
    CHECK(((u64 *)t1->base)[0] == (u64)&funcs[1]);
    wasmc_table_fill(v, 0, 8, 42, 2);
    CHECK(e[7] == 77 && e[8] == 42 && e[9] == 42);
    wasmc_table_fill(v, 0, 10, 42, 0);
    wasmc_elem_drop(v, 0);
    wasmc_table_init(v, 0, 0, 10, 0, 0);
    out("tables ok\n");
#elif SCEN == 8 /* memory.fill out of bounds, reported in the calling function */
    f_bulk(v, 0);
#elif SCEN == 9 /* table.copy out of bounds; func4 has no name */
    f_bulk(v, 1);
#elif SCEN == 10 /* memory.init from a dropped segment */
    wasmc_data_drop(v, 0);
    f_bulk(v, 2);
#elif SCEN == 11 /* memory.copy with src at 4 GiB - 1 */
    f_bulk(v, 3);
#elif SCEN == 12 /* table.init beyond the segment */
    f_bulk(v, 4);
#elif SCEN == 13 /* table.fill on an empty table */
    f_bulk(v, 5);
#elif SCEN == 15 /* argv and the guest environment (WASMC_* hidden) through WASI */
    u32 *w = (u32 *)m;
    CHECK(wasmc_wasi_args_sizes_get(v, 0, 4) == 0 && w[0] == 3);
    CHECK(wasmc_wasi_args_get(v, 16, 256) == 0);
    CHECK(memcmp(m + w[5], "a", 2) == 0 && memcmp(m + w[6], "bcd", 4) == 0);
    CHECK(wasmc_wasi_environ_sizes_get(v, 0, 4) == 0 && w[0] == 1 && w[1] == 13);
    CHECK(wasmc_wasi_environ_get(v, 16, 256) == 0 && memcmp(m + w[4], "FAKE_VAR=yes", 13) == 0);
    out("args ok\n");
#elif SCEN == 16 /* no declared maximum: the full 4 GiB */
    CHECK(wasmc_memory_grow(v, 65535) == 1 && v->memory_size == 1ull << 32);
    m[(1ull << 32) - 1] = 1;
    CHECK(wasmc_memory_grow(v, 1) == -1 && wasmc_memory_grow(v, 0) == 65536);
    wasmc_memory_fill(v, -2, 3, 2);
    CHECK(m[(1ull << 32) - 2] == 3);
    out("4gib ok\n");
#elif SCEN == 14 /* a fault outside Wasm memory is a runtime bug, not a trap */
    *(volatile int *)16 = 1;
#endif
}
