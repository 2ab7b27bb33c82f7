/* Dynamic programming: edit distance (Levenshtein, two-row) and longest common
 * subsequence of two pseudo-random strings of length N over a 4-letter alphabet.
 * Usage: dp [N] */
#include <stdio.h>
#include <stdlib.h>

static unsigned rng = 12345;
static unsigned next(void) { rng = rng * 1103515245u + 12345u; return rng >> 16; }
static int min3(int a, int b, int c) { int m = a < b ? a : b; return m < c ? m : c; }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 12000;
    char *s = malloc(n), *t = malloc(n);
    for (int i = 0; i < n; i++) { s[i] = "ACGT"[next() & 3]; t[i] = "ACGT"[next() & 3]; }
    int *prev = malloc(sizeof(int) * (n + 1)), *cur = malloc(sizeof(int) * (n + 1));
    for (int j = 0; j <= n; j++) prev[j] = j;
    for (int i = 1; i <= n; i++) {
        cur[0] = i;
        for (int j = 1; j <= n; j++)
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (s[i - 1] != t[j - 1]));
        int *w = prev; prev = cur; cur = w;
    }
    int edit = prev[n];
    for (int j = 0; j <= n; j++) prev[j] = 0;
    for (int i = 1; i <= n; i++) {
        cur[0] = 0;
        for (int j = 1; j <= n; j++) {
            int best = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
            cur[j] = s[i - 1] == t[j - 1] ? prev[j - 1] + 1 : best;
        }
        int *w = prev; prev = cur; cur = w;
    }
    printf("dp n=%d edit=%d lcs=%d\n", n, edit, prev[n]);
    return 0;
}
