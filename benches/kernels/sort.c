/* Sorting: recursive quicksort (median of three, insertion sort below 16) and a
 * bottom-up merge sort of N pseudo-random 32-bit keys, each run several times.
 * Usage: sort [N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned rng = 2463534242u;
static unsigned next(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }

static void isort(unsigned *a, int n) {
    for (int i = 1; i < n; i++) {
        unsigned x = a[i]; int j = i - 1;
        while (j >= 0 && a[j] > x) { a[j + 1] = a[j]; j--; }
        a[j + 1] = x;
    }
}
static void qsort_(unsigned *a, int n) {
    while (n > 16) {
        unsigned x = a[0], y = a[n / 2], z = a[n - 1];
        unsigned p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int i = 0, j = n - 1;
        for (;;) {
            while (a[i] < p) i++;
            while (a[j] > p) j--;
            if (i >= j) break;
            unsigned t = a[i]; a[i] = a[j]; a[j] = t; i++; j--;
        }
        qsort_(a, j + 1); /* recurse on one side, loop on the other */
        a += j + 1; n -= j + 1;
    }
    isort(a, n);
}
static void msort(unsigned *a, unsigned *tmp, int n) {
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = a[i] <= a[j] ? a[i++] : a[j++];
            while (i < mid) tmp[k++] = a[i++];
            while (j < hi) tmp[k++] = a[j++];
        }
        memcpy(a, tmp, sizeof(unsigned) * n);
    }
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1500000;
    unsigned *a = malloc(4 * (size_t)n), *tmp = malloc(4 * (size_t)n);
    unsigned long long check = 0;
    for (int rep = 0; rep < 3; rep++) {
        for (int i = 0; i < n; i++) a[i] = next();
        if (rep & 1) msort(a, tmp, n); else qsort_(a, n);
        for (int i = 1; i < n; i++) if (a[i - 1] > a[i]) { printf("unsorted!\n"); return 1; }
        check += a[n / 3] + a[n - 1];
    }
    printf("sort n=%d check=%llu\n", n, check);
    return 0;
}
