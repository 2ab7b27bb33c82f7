/* Loop nests in the style of PolyBench/C (our own code, not PolyBench's): dense linear
 * algebra, stencils and dynamic programming over double or int arrays, each kernel in
 * a function of its own as such suites have them. `cargo xtask bench` counts the
 * instructions each executes with and without migration points (callgrind): the
 * loop shapes clang makes of code like this, beyond the bench's own kernels.
 * Usage: loopnests KERNEL N; prints a checksum. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AT(p, n, i, j) p[(i) * (n) + (j)]
#define NOINLINE __attribute__((noinline))

static double *matrix(int n, int m, int seed) {
    double *p = malloc(sizeof(double) * n * m);
    for (int i = 0; i < n * m; i++) p[i] = (double)((i * seed + 1) % 31) / 31.0;
    return p;
}

static double total(const double *p, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += p[i];
    return s;
}

/* C = 1.2 C + 1.5 A B, i-k-j order */
static NOINLINE double gemm(int n) {
    double *A = matrix(n, n, 3), *B = matrix(n, n, 5), *C = matrix(n, n, 7);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) AT(C, n, i, j) *= 1.2;
        for (int k = 0; k < n; k++)
            for (int j = 0; j < n; j++) AT(C, n, i, j) += 1.5 * AT(A, n, i, k) * AT(B, n, k, j);
    }
    return total(C, n * n);
}

/* C = A B as dot products (i-j-k order, an accumulator in the inner loop) */
static NOINLINE double gemm_dot(int n) {
    double *A = matrix(n, n, 3), *B = matrix(n, n, 5), *C = matrix(n, n, 7);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += AT(A, n, i, k) * AT(B, n, k, j);
            AT(C, n, i, j) = s;
        }
    return total(C, n * n);
}

/* symmetric rank-k update, lower triangle */
static NOINLINE double syrk(int n) {
    double *A = matrix(n, n, 3), *C = matrix(n, n, 7);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) AT(C, n, i, j) *= 1.2;
        for (int k = 0; k < n; k++)
            for (int j = 0; j <= i; j++) AT(C, n, i, j) += 1.5 * AT(A, n, i, k) * AT(A, n, j, k);
    }
    return total(C, n * n);
}

/* y = A^T (A x), repeated */
static NOINLINE double atax(int n) {
    double *A = matrix(n, n, 3), *x = matrix(n, 1, 5), *y = matrix(n, 1, 7), *t = matrix(n, 1, 9);
    for (int rep = 0; rep < 8; rep++) {
        for (int i = 0; i < n; i++) y[i] = 0;
        for (int i = 0; i < n; i++) {
            t[i] = 0;
            for (int j = 0; j < n; j++) t[i] += AT(A, n, i, j) * x[j];
            for (int j = 0; j < n; j++) y[j] += AT(A, n, i, j) * t[i];
        }
        x[rep % n] += y[0] * 1e-9;
    }
    return total(y, n);
}

/* matrix-vector products with A and with A^T (a column walk) */
static NOINLINE double mvt(int n) {
    double *A = matrix(n, n, 3), *x1 = matrix(n, 1, 5), *x2 = matrix(n, 1, 7);
    double *y1 = matrix(n, 1, 9), *y2 = matrix(n, 1, 11);
    for (int rep = 0; rep < 8; rep++) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) x1[i] += AT(A, n, i, j) * y1[j];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) x2[i] += AT(A, n, j, i) * y2[j];
    }
    return total(x1, n) + total(x2, n);
}

/* Cholesky-style factorisation (triangular loops, a division per element) */
static NOINLINE double cholesky(int n) {
    double *A = matrix(n, n, 3);
    for (int i = 0; i < n; i++) AT(A, n, i, i) += n;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < i; j++) {
            for (int k = 0; k < j; k++) AT(A, n, i, j) -= AT(A, n, i, k) * AT(A, n, j, k);
            AT(A, n, i, j) /= AT(A, n, j, j);
        }
        for (int k = 0; k < i; k++) AT(A, n, i, i) -= AT(A, n, i, k) * AT(A, n, i, k);
        AT(A, n, i, i) = AT(A, n, i, i) > 0 ? AT(A, n, i, i) * 0.5 + 0.5 : 1.0;
    }
    return total(A, n * n);
}

/* forward substitution, repeated */
static NOINLINE double trisolv(int n) {
    double *L = matrix(n, n, 3), *x = matrix(n, 1, 5), *b = matrix(n, 1, 7);
    for (int i = 0; i < n; i++) AT(L, n, i, i) += n;
    for (int rep = 0; rep < 8; rep++)
        for (int i = 0; i < n; i++) {
            x[i] = b[i];
            for (int j = 0; j < i; j++) x[i] -= AT(L, n, i, j) * x[j];
            x[i] = x[i] / AT(L, n, i, i);
        }
    return total(x, n);
}

/* 2-D Jacobi, two arrays */
static NOINLINE double jacobi2d(int n) {
    double *A = matrix(n, n, 3), *B = matrix(n, n, 5);
    for (int t = 0; t < 20; t++) {
        for (int i = 1; i < n - 1; i++)
            for (int j = 1; j < n - 1; j++)
                AT(B, n, i, j) = 0.2 * (AT(A, n, i, j) + AT(A, n, i, j - 1) + AT(A, n, i, j + 1) +
                                        AT(A, n, i + 1, j) + AT(A, n, i - 1, j));
        for (int i = 1; i < n - 1; i++)
            for (int j = 1; j < n - 1; j++)
                AT(A, n, i, j) = 0.2 * (AT(B, n, i, j) + AT(B, n, i, j - 1) + AT(B, n, i, j + 1) +
                                        AT(B, n, i + 1, j) + AT(B, n, i - 1, j));
    }
    return total(A, n * n);
}

/* 2-D Gauss-Seidel, in place (a loop-carried dependence) */
static NOINLINE double seidel2d(int n) {
    double *A = matrix(n, n, 3);
    for (int t = 0; t < 10; t++)
        for (int i = 1; i <= n - 2; i++)
            for (int j = 1; j <= n - 2; j++)
                AT(A, n, i, j) = (AT(A, n, i - 1, j - 1) + AT(A, n, i - 1, j) + AT(A, n, i - 1, j + 1) +
                                  AT(A, n, i, j - 1) + AT(A, n, i, j) + AT(A, n, i, j + 1) +
                                  AT(A, n, i + 1, j - 1) + AT(A, n, i + 1, j) + AT(A, n, i + 1, j + 1)) /
                                 9.0;
    return total(A, n * n);
}

/* 2-D finite-difference time domain */
static NOINLINE double fdtd2d(int n) {
    double *ex = matrix(n, n, 3), *ey = matrix(n, n, 5), *hz = matrix(n, n, 7);
    for (int t = 0; t < 20; t++) {
        for (int j = 0; j < n; j++) AT(ey, n, 0, j) = t;
        for (int i = 1; i < n; i++)
            for (int j = 0; j < n; j++) AT(ey, n, i, j) -= 0.5 * (AT(hz, n, i, j) - AT(hz, n, i - 1, j));
        for (int i = 0; i < n; i++)
            for (int j = 1; j < n; j++) AT(ex, n, i, j) -= 0.5 * (AT(hz, n, i, j) - AT(hz, n, i, j - 1));
        for (int i = 0; i < n - 1; i++)
            for (int j = 0; j < n - 1; j++)
                AT(hz, n, i, j) -= 0.7 * (AT(ex, n, i, j + 1) - AT(ex, n, i, j) + AT(ey, n, i + 1, j) -
                                          AT(ey, n, i, j));
    }
    return total(hz, n * n);
}

/* 3-D heat equation, 7-point stencil */
static NOINLINE double heat3d(int n) {
    double *A = matrix(n * n, n, 3), *B = matrix(n * n, n, 5);
#define AT3(p, i, j, k) p[((i) * n + (j)) * n + (k)]
    for (int t = 0; t < 10; t++) {
        for (int i = 1; i < n - 1; i++)
            for (int j = 1; j < n - 1; j++)
                for (int k = 1; k < n - 1; k++)
                    AT3(B, i, j, k) = 0.125 * (AT3(A, i + 1, j, k) - 2.0 * AT3(A, i, j, k) + AT3(A, i - 1, j, k)) +
                                      0.125 * (AT3(A, i, j + 1, k) - 2.0 * AT3(A, i, j, k) + AT3(A, i, j - 1, k)) +
                                      0.125 * (AT3(A, i, j, k + 1) - 2.0 * AT3(A, i, j, k) + AT3(A, i, j, k - 1)) +
                                      AT3(A, i, j, k);
        double *swap = A;
        A = B;
        B = swap;
    }
    return total(A, n * n * n);
}

/* all-pairs shortest paths over ints */
static NOINLINE double floyd(int n) {
    int *p = malloc(sizeof(int) * n * n);
    for (int i = 0; i < n * n; i++) p[i] = (i * 7) % 13 + 1;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int v = AT(p, n, i, k) + AT(p, n, k, j);
                if (v < AT(p, n, i, j)) AT(p, n, i, j) = v;
            }
    long s = 0;
    for (int i = 0; i < n * n; i++) s += p[i];
    return (double)s;
}

/* RNA folding (Nussinov): a triangular DP with a max-reduction inner loop */
static NOINLINE double nussinov(int n) {
    int *T = calloc((size_t)n * n, sizeof(int));
    char *seq = malloc(n);
    for (int i = 0; i < n; i++) seq[i] = (char)((i * 7 + 1) % 4);
    for (int i = n - 1; i >= 0; i--)
        for (int j = i + 1; j < n; j++) {
            if (AT(T, n, i, j - 1) > AT(T, n, i, j)) AT(T, n, i, j) = AT(T, n, i, j - 1);
            if (i + 1 < n && AT(T, n, i + 1, j) > AT(T, n, i, j)) AT(T, n, i, j) = AT(T, n, i + 1, j);
            if (i + 1 < n) {
                int v = AT(T, n, i + 1, j - 1) + (i < j - 1 && seq[i] + seq[j] == 3);
                if (v > AT(T, n, i, j)) AT(T, n, i, j) = v;
            }
            for (int k = i + 1; k < j; k++) {
                int v = AT(T, n, i, k) + AT(T, n, k + 1, j);
                if (v > AT(T, n, i, j)) AT(T, n, i, j) = v;
            }
        }
    return T[n - 1];
}

/* covariance of n samples of n variables */
static NOINLINE double covariance(int n) {
    double *d = matrix(n, n, 3), *cov = matrix(n, n, 5), *mean = matrix(n, 1, 7);
    for (int j = 0; j < n; j++) {
        mean[j] = 0;
        for (int i = 0; i < n; i++) mean[j] += AT(d, n, i, j);
        mean[j] /= n;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) AT(d, n, i, j) -= mean[j];
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += AT(d, n, k, i) * AT(d, n, k, j);
            AT(cov, n, i, j) = AT(cov, n, j, i) = s / (n - 1);
        }
    return total(cov, n * n);
}

static const struct {
    const char *name;
    double (*run)(int);
} KERNELS[] = {
    {"gemm", gemm},         {"gemm_dot", gemm_dot},     {"syrk", syrk},         {"atax", atax},
    {"mvt", mvt},           {"cholesky", cholesky},     {"trisolv", trisolv},   {"jacobi2d", jacobi2d},
    {"seidel2d", seidel2d}, {"fdtd2d", fdtd2d},         {"heat3d", heat3d},     {"floyd", floyd},
    {"nussinov", nussinov}, {"covariance", covariance},
};

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: loopnests KERNEL N\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof KERNELS / sizeof KERNELS[0]; i++)
        if (!strcmp(argv[1], KERNELS[i].name)) {
            int n = atoi(argv[2]);
            printf("%s n=%d checksum=%.9e\n", argv[1], n, KERNELS[i].run(n));
            return 0;
        }
    fprintf(stderr, "loopnests: unknown kernel %s\n", argv[1]);
    return 2;
}
