// Driver for libbzip2 1.0.8 (the copy bundled in the crates.io crate bzip2-sys, fetched
// at test time; see testsuite/src/registry.rs). Runs bzip2's own release test (the
// sample files, decompressed and recompressed bit-exactly) and round-trips generated
// data through both the one-shot and the streaming API. Prints sizes and CRCs only,
// so the output can be compared between ISAs, wasmtime and a native build.
//
// usage: bzip2_driver DIR   (DIR holds bzip2-1.0.8/sample{1,2,3}.{bz2,ref})
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bzlib.h"

// Required by libbzip2 when built with BZ_NO_STDIO.
void bz_internal_error(int code) {
    printf("bz_internal_error %d\n", code);
    exit(3);
}

static uint32_t crc32(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    }
    return ~c;
}

static unsigned char *slurp(const char *path, unsigned *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { printf("cannot open %s\n", path); exit(2); }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = (unsigned)n;
    return buf;
}

static void release_test(const char *dir, int n, int small) {
    char path[512];
    unsigned zlen, rlen;
    snprintf(path, sizeof path, "%s/bzip2-1.0.8/sample%d.bz2", dir, n);
    unsigned char *z = slurp(path, &zlen);
    snprintf(path, sizeof path, "%s/bzip2-1.0.8/sample%d.ref", dir, n);
    unsigned char *ref = slurp(path, &rlen);

    unsigned outlen = rlen + 1024;
    unsigned char *out = malloc(outlen);
    int rc = BZ2_bzBuffToBuffDecompress((char *)out, &outlen, (char *)z, zlen, small, 0);
    printf("sample%d: decompress(small=%d) rc=%d %u bytes, matches .ref: %s, crc %08x\n", n, small, rc, outlen,
           outlen == rlen && !memcmp(out, ref, rlen) ? "yes" : "NO", crc32(out, outlen));

    // bzip2's own test: `bzip2 -N < sampleN.ref` must reproduce sampleN.bz2 exactly.
    unsigned clen = rlen + rlen / 100 + 600;
    unsigned char *c = malloc(clen);
    rc = BZ2_bzBuffToBuffCompress((char *)c, &clen, (char *)ref, rlen, n, 0, 30);
    printf("sample%d: compress(-%d) rc=%d %u bytes, identical to .bz2: %s\n", n, n, rc, clen,
           clen == zlen && !memcmp(c, z, zlen) ? "yes" : "NO");
    free(z), free(ref), free(out), free(c);
}

// Streaming round trip with small buffers, so the state machines are re-entered often.
static void stream_test(const char *what, const unsigned char *data, unsigned len, int block, int work) {
    bz_stream s;
    memset(&s, 0, sizeof s);
    int rc = BZ2_bzCompressInit(&s, block, 0, work);
    unsigned cap = len + len / 100 + 600, clen = 0;
    unsigned char *c = malloc(cap);
    unsigned fed = 0;
    do {
        unsigned chunk = len - fed < 5000 ? len - fed : 5000;
        s.next_in = (char *)data + fed;
        s.avail_in = chunk;
        s.next_out = (char *)c + clen;
        s.avail_out = cap - clen < 4096 ? cap - clen : 4096;
        unsigned before_out = s.avail_out, before_in = s.avail_in;
        rc = BZ2_bzCompress(&s, fed + chunk == len ? BZ_FINISH : BZ_RUN);
        fed += before_in - s.avail_in;
        clen += before_out - s.avail_out;
    } while (rc == BZ_RUN_OK || rc == BZ_FINISH_OK);
    int end_rc = rc;
    BZ2_bzCompressEnd(&s);

    memset(&s, 0, sizeof s);
    BZ2_bzDecompressInit(&s, 0, 0);
    unsigned char *d = malloc(len + 1);
    unsigned dlen = 0, used = 0;
    do {
        s.next_in = (char *)c + used;
        s.avail_in = clen - used < 3000 ? clen - used : 3000;
        s.next_out = (char *)d + dlen;
        s.avail_out = len + 1 - dlen < 7000 ? len + 1 - dlen : 7000;
        unsigned before_out = s.avail_out, before_in = s.avail_in;
        rc = BZ2_bzDecompress(&s);
        used += before_in - s.avail_in;
        dlen += before_out - s.avail_out;
    } while (rc == BZ_OK && (s.avail_in == 0 || s.avail_out == 0) && used <= clen);
    BZ2_bzDecompressEnd(&s);
    printf("%-12s %7u bytes, -%d work %2d: compressed %7u (rc %d, crc %08x), round trip %s\n", what, len, block,
           work, clen, end_rc, crc32(c, clen), rc == BZ_STREAM_END && dlen == len && !memcmp(d, data, len) ? "ok" : "FAILED");
    free(c), free(d);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/data";
    printf("libbzip2 %s\n", BZ2_bzlibVersion());
    release_test(dir, 1, 0);
    release_test(dir, 2, 0);
    release_test(dir, 3, 1);

    unsigned len = 1 << 20;
    unsigned char *text = malloc(len), *noise = malloc(len), *runs = malloc(len);
    static const char *words[] = {"the ", "wasm ", "module ", "compiles ", "to ", "native ", "code, ", "and\n"};
    uint32_t x = 2463534242u;
    for (unsigned i = 0; i < len;) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        const char *s = words[x % 8];
        for (; *s && i < len; s++) text[i++] = (unsigned char)*s;
    }
    for (unsigned i = 0; i < len; i++) { x ^= x << 13, x ^= x >> 17, x ^= x << 5; noise[i] = (unsigned char)x; }
    for (unsigned i = 0; i < len; i++) runs[i] = (unsigned char)("ab"[i & 1] + (i >> 16) % 3);
    printf("inputs: text crc %08x, noise crc %08x, runs crc %08x\n", crc32(text, len), crc32(noise, len), crc32(runs, len));
    stream_test("text", text, len, 9, 30);
    stream_test("text", text, len / 4, 1, 0);
    stream_test("noise", noise, len / 2, 5, 30);
    // Highly repetitive input exhausts the work budget and takes the fallback sort.
    stream_test("runs", runs, len, 9, 1);
    stream_test("empty", runs, 0, 9, 30);
    return 0;
}
