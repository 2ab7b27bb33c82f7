/* Input for the clang real-program test (compiler/tests/real_program.rs): YoWASP's
 * clang compiles this to a WebAssembly object with -O2, under wasmc on every ISA and
 * under wasmtime, and the objects must be identical. Freestanding (no headers: the
 * test runs clang's -cc1 without a resource directory), but with what the optimiser
 * works on in real code: loops to vectorise and unroll, a switch to turn into a table,
 * recursion, structs passed by pointer, floating point. */

typedef unsigned long size_t;
typedef unsigned int u32;

struct vec3 { double x, y, z; };

static double dot(const struct vec3 *a, const struct vec3 *b) {
    return a->x * b->x + a->y * b->y + a->z * b->z;
}

double energy(const struct vec3 *p, const struct vec3 *v, size_t n, double dt) {
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        struct vec3 q = { p[i].x + v[i].x * dt, p[i].y + v[i].y * dt, p[i].z + v[i].z * dt };
        e += 0.5 * dot(&v[i], &v[i]) - 1.0 / (1e-9 + dot(&q, &q));
    }
    return e;
}

void saxpy(float *restrict y, const float *restrict x, float a, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

u32 crc32(const unsigned char *s, size_t n) {
    u32 c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= s[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    }
    return ~c;
}

static int classify(int op) {
    switch (op) {
    case 0: return 17;
    case 1: return 4;
    case 2: return 99;
    case 3: return -3;
    case 4: return 12;
    case 5: return 7;
    case 6: return 0;
    case 7: return 41;
    default: return -1;
    }
}

int run_ops(const unsigned char *ops, int n) {
    int acc = 0;
    for (int i = 0; i < n; i++) acc = acc * 31 + classify(ops[i] & 7);
    return acc;
}

static void swap(int *a, int *b) { int t = *a; *a = *b; *b = t; }

void quicksort(int *v, int lo, int hi) {
    while (lo < hi) {
        int p = v[(lo + hi) / 2], i = lo, j = hi;
        while (i <= j) {
            while (v[i] < p) i++;
            while (v[j] > p) j--;
            if (i <= j) swap(&v[i++], &v[j--]);
        }
        if (j - lo < hi - i) { quicksort(v, lo, j); lo = i; }
        else { quicksort(v, i, hi); hi = j; }
    }
}

long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

void matmul(int n, const double *a, const double *b, double *c) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += a[i * n + k] * b[k * n + j];
            c[i * n + j] = s;
        }
}
