/* The WASI layer on every ISA without the compiler: a hand-made module whose
 * "generated" entry function calls the wasmc_wasi_* functions directly on its linear
 * memory, over a sandbox run.sh prepares. Prints "wasi ok" and exits 7 (proc_exit), or
 * "FAIL <line>". */
#include "fake.h"

int wasmc_wasi_path_open(VmCtx *, u32, u32, u32, u32, u32, u64, u64, u32, u32);
int wasmc_wasi_fd_write(VmCtx *, u32, u32, u32, u32);
int wasmc_wasi_fd_read(VmCtx *, u32, u32, u32, u32);
int wasmc_wasi_fd_pread(VmCtx *, u32, u32, u32, u64, u32);
int wasmc_wasi_fd_seek(VmCtx *, u32, i64, u32, u32);
int wasmc_wasi_fd_close(VmCtx *, u32);
int wasmc_wasi_fd_readdir(VmCtx *, u32, u32, u32, u64, u32);
int wasmc_wasi_fd_filestat_get(VmCtx *, u32, u32);
int wasmc_wasi_fd_fdstat_get(VmCtx *, u32, u32);
int wasmc_wasi_fd_prestat_get(VmCtx *, u32, u32);
int wasmc_wasi_fd_prestat_dir_name(VmCtx *, u32, u32, u32);
int wasmc_wasi_path_filestat_get(VmCtx *, u32, u32, u32, u32, u32);
int wasmc_wasi_path_create_directory(VmCtx *, u32, u32, u32);
int wasmc_wasi_path_remove_directory(VmCtx *, u32, u32, u32);
int wasmc_wasi_path_unlink_file(VmCtx *, u32, u32, u32);
int wasmc_wasi_path_rename(VmCtx *, u32, u32, u32, u32, u32, u32);
int wasmc_wasi_path_symlink(VmCtx *, u32, u32, u32, u32, u32);
int wasmc_wasi_path_readlink(VmCtx *, u32, u32, u32, u32, u32, u32);
int wasmc_wasi_poll_oneoff(VmCtx *, u32, u32, u32, u32);
int wasmc_wasi_clock_time_get(VmCtx *, u32, u64, u32);
int wasmc_wasi_random_get(VmCtx *, u32, u32);
void wasmc_wasi_proc_exit(VmCtx *, u32);


/* Guest memory layout used below. */
#define OUT 0x100u
#define IOV 0x200u
#define PATH 0x1000u
#define SUBS 0x4000u
#define EVS 0x5000u
#define BUF 0x8000u
#define ALL ((1ull << 30) - 1)
#define RO (1ull << 1 | 1ull << 14)

static VmCtx *V;
static u8 *M;
static u32 rd32(u32 at) { u32 v; __builtin_memcpy(&v, M + at, 4); return v; }
static u64 rd64(u32 at) { u64 v; __builtin_memcpy(&v, M + at, 8); return v; }
static void wr32(u32 at, u32 v) { __builtin_memcpy(M + at, &v, 4); }
static void wr64(u32 at, u64 v) { __builtin_memcpy(M + at, &v, 8); }
static u32 path(const char *p) { u32 n = slen(p); __builtin_memcpy(M + PATH, p, n); return n; }
static int eq(u32 at, const char *s, u32 n) { for (u32 i = 0; i < n; i++) if (M[at + i] != (u8)s[i]) return 0; return 1; }

static int open_(u32 dir, const char *p, u32 oflags, u64 rights, int follow) {
    u32 n = path(p);
    int r = wasmc_wasi_path_open(V, dir, follow, PATH, n, oflags, rights, ALL, 0, OUT);
    return r ? -r : (int)rd32(OUT);
}
static int ftype(u32 dir, const char *p, int follow) {
    u32 n = path(p);
    int r = wasmc_wasi_path_filestat_get(V, dir, follow, PATH, n, BUF);
    return r ? -r : M[BUF + 16];
}
static int wr(u32 fd, const char *s) {
    u32 n = slen(s);
    __builtin_memcpy(M + BUF, s, n);
    wr32(IOV, BUF); wr32(IOV + 4, n);
    return wasmc_wasi_fd_write(V, fd, IOV, 1, OUT);
}

static void scenario(void);
WASM void f_main(VmCtx *v) { V = v; M = (u8 *)v->memory_base; scenario(); }
WASM void f_end(void) {}

static FuncRecord funcs[1];
static const Bytes names[1] = {{(u64) "f_main", 6}};
static void fake_init(VmCtx *v) {
    (void)v;
    funcs[0].code = (u64)f_main;
    funcs[0].code_size = (u32)((char *)f_end - (char *)f_main);
}
ModuleDesc wasmc_module = {
    .abi_version = WASMC_ABI_VERSION, /* abi_spec::ABI_VERSION, from run.sh */
    .funcs = (u64)funcs, .num_funcs = 1, .num_imported_funcs = 0,
    .func_names = (u64)names, .has_memory = 1,
    .memory_min_pages = 2, .memory_max_pages = 2,
    .init = (u64)fake_init, .entry = (u64)f_main,
    .vmctx_size = HEADER,
};

static void scenario(void) {
    /* preopen */
    CHECK(wasmc_wasi_fd_prestat_get(V, 3, OUT) == 0 && rd32(OUT + 4) == 3);
    CHECK(wasmc_wasi_fd_prestat_dir_name(V, 3, BUF, 3) == 0 && eq(BUF, "/sb", 3));
    CHECK(wasmc_wasi_fd_prestat_get(V, 4, OUT) == 8);
    /* file create/write/read (O_CREAT|O_TRUNC) */
    int fd = open_(3, "f.txt", 1 | 8, ALL, 0);
    CHECK(fd > 3);
    CHECK(wr(fd, "hello world") == 0 && rd32(OUT) == 11);
    CHECK(wasmc_wasi_fd_seek(V, fd, 6, 0, OUT) == 0 && rd64(OUT) == 6);
    wr32(IOV, BUF); wr32(IOV + 4, 100);
    CHECK(wasmc_wasi_fd_read(V, fd, IOV, 1, OUT) == 0 && rd32(OUT) == 5 && eq(BUF, "world", 5));
    CHECK(wasmc_wasi_fd_pread(V, fd, IOV, 1, 0, OUT) == 0 && rd32(OUT) == 11 && eq(BUF, "hello", 5));
    CHECK(wasmc_wasi_fd_filestat_get(V, fd, BUF) == 0 && M[BUF + 16] == 4 && rd64(BUF + 32) == 11);
    CHECK(wasmc_wasi_fd_close(V, fd) == 0);
    CHECK(open_(3, "f.txt", 1 | 4, ALL, 0) == -20);            /* EEXIST */
    /* O_DIRECTORY / O_NOFOLLOW: their bits differ on aarch64 */
    CHECK(open_(3, "f.txt", 2, RO, 0) == -54);                 /* ENOTDIR */
    CHECK(open_(3, "link_f", 0, RO, 0) == -32);                /* ELOOP */
    fd = open_(3, "link_f", 0, RO, 1);
    CHECK(fd > 3 && wasmc_wasi_fd_close(V, fd) == 0);
    int d = open_(3, "sub", 2, ALL, 0);
    CHECK(d > 3);
    CHECK(wasmc_wasi_fd_fdstat_get(V, d, BUF) == 0 && M[BUF] == 3);
    /* readdir: ".", "..", then a.txt and deeper in some order */
    CHECK(wasmc_wasi_fd_readdir(V, d, BUF, 4096, 0, OUT) == 0);
    u32 used = rd32(OUT), off = 0, n = 0, seen = 0;
    while (off < used) {
        u32 nl = rd32(BUF + off + 16);
        u8 t = M[BUF + off + 20];
        CHECK(rd64(BUF + off) == ++n);
        if (n == 1) CHECK(nl == 1 && M[BUF + off + 24] == '.' && t == 3);
        if (n == 2) CHECK(nl == 2 && t == 3);
        if (nl == 5 && eq(BUF + off + 24, "a.txt", 5)) { CHECK(t == 4); seen |= 1; }
        if (nl == 6 && eq(BUF + off + 24, "deeper", 6)) { CHECK(t == 3); seen |= 2; }
        off += 24 + nl;
    }
    CHECK(n == 5 && seen == 3); /* a.txt, deeper, up2 */
    /* sandbox: absolute, dot-dot, escaping symlinks */
    CHECK(open_(3, "/etc/passwd", 0, RO, 1) == -76);
    CHECK(open_(3, "../secret", 0, RO, 1) == -76);
    CHECK(open_(3, "sub/deeper/../../../secret", 0, RO, 1) == -76);
    CHECK(open_(3, "sub/up2/secret", 0, RO, 1) == -76);
    CHECK(open_(3, "abs/passwd", 0, RO, 1) == -76);
    CHECK(open_(d, "../f.txt", 0, RO, 1) == -76);
    CHECK(open_(3, "loop1", 0, RO, 1) == -32);
    CHECK(ftype(3, "abs", 0) == 7 && ftype(3, "sub/deeper/../a.txt", 1) == 4);
    CHECK(ftype(3, "sub_link/", 0) == 3);
    /* mkdir, rename, symlink, readlink, unlink, rmdir */
    u32 pn = path("newdir");
    CHECK(wasmc_wasi_path_create_directory(V, 3, PATH, pn) == 0);
    CHECK(wasmc_wasi_path_create_directory(V, 3, PATH, pn) == 20);
    __builtin_memcpy(M + 0x3000, "newdir/x", 8);
    __builtin_memcpy(M + 0x3100, "f.txt", 5);
    CHECK(wasmc_wasi_path_rename(V, 3, 0x3100, 5, 3, 0x3000, 8) == 0);
    CHECK(ftype(3, "newdir/x", 0) == 4);
    CHECK(wasmc_wasi_path_remove_directory(V, 3, PATH, pn) == 55);  /* ENOTEMPTY */
    __builtin_memcpy(M + 0x3200, "/etc", 4);
    CHECK(wasmc_wasi_path_symlink(V, 0x3200, 4, 3, 0x3100, 5) == 76);
    CHECK(wasmc_wasi_path_symlink(V, 0x3000, 8, 3, 0x3100, 5) == 0);
    CHECK(wasmc_wasi_path_readlink(V, 3, 0x3100, 5, BUF, 64, OUT) == 0 && rd32(OUT) == 8 && eq(BUF, "newdir/x", 8));
    CHECK(wasmc_wasi_path_unlink_file(V, 3, 0x3100, 5) == 0);
    CHECK(wasmc_wasi_path_unlink_file(V, 3, 0x3000, 8) == 0);
    CHECK(wasmc_wasi_path_remove_directory(V, 3, PATH, pn) == 0);
    CHECK(wasmc_wasi_fd_close(V, d) == 0 && wasmc_wasi_fd_close(V, d) == 8);
    /* EFAULT */
    wr32(IOV, 2 * 65536 - 2); wr32(IOV + 4, 5);
    CHECK(wasmc_wasi_fd_write(V, 1, IOV, 1, OUT) == 21);
    /* clocks, random, poll (relative 20 ms) */
    CHECK(wasmc_wasi_clock_time_get(V, 1, 1, OUT) == 0);
    u64 t0 = rd64(OUT);
    CHECK(wasmc_wasi_clock_time_get(V, 9, 1, OUT) == 28);
    CHECK(wasmc_wasi_random_get(V, BUF, 64) == 0);
    for (int i = 0; i < 48; i++) M[SUBS + i] = 0;
    wr64(SUBS, 99); M[SUBS + 8] = 0; wr32(SUBS + 16, 1); wr64(SUBS + 24, 20000000);
    CHECK(wasmc_wasi_poll_oneoff(V, SUBS, EVS, 1, OUT) == 0 && rd32(OUT) == 1 && rd64(EVS) == 99);
    CHECK(wasmc_wasi_clock_time_get(V, 1, 1, OUT) == 0 && rd64(OUT) - t0 >= 20000000);
    out("wasi ok\n");
    wasmc_wasi_proc_exit(V, 7);
}
