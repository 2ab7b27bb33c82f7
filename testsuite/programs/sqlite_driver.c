/* Driver for SQLite (the amalgamation bundled by the crates.io crate libsqlite3-sys,
 * fetched at test time; see testsuite/src/registry.rs): an in-memory database that
 * takes inserts in a transaction, an index, grouped aggregates over floats and text,
 * a join, sorting and SQL's printf, each result printed as it comes. Usage:
 * sqlite_driver [ROWS] (default 20000). Deterministic: no time, no randomness. */
#include <stdio.h>
#include <stdlib.h>
#include "sqlite3.h"

static int print_row(void *unused, int n, char **values, char **names) {
    (void)unused;
    for (int i = 0; i < n; i++) printf("%s=%s ", names[i], values[i] ? values[i] : "NULL");
    printf("\n");
    return 0;
}

static void run(sqlite3 *db, const char *sql) {
    char *err = 0;
    if (sqlite3_exec(db, sql, print_row, 0, &err) != SQLITE_OK) {
        printf("error: %s\n", err);
        sqlite3_free(err);
    }
}

int main(int argc, char **argv) {
    int rows = argc > 1 ? atoi(argv[1]) : 20000;
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
        printf("cannot open: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    run(db, "create table t(id integer primary key, k text, x real, g int)");
    run(db, "begin");
    sqlite3_stmt *insert;
    sqlite3_prepare_v2(db, "insert into t(k, x, g) values(?, ?, ?)", -1, &insert, 0);
    for (int i = 0; i < rows; i++) {
        char key[32];
        snprintf(key, sizeof key, "key%07d", (int)((i * 7919LL) % rows));
        sqlite3_bind_text(insert, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(insert, 2, i * 0.37 - 1000.0);
        sqlite3_bind_int(insert, 3, i % 17);
        sqlite3_step(insert);
        sqlite3_reset(insert);
    }
    sqlite3_finalize(insert);
    run(db, "commit");
    run(db, "create index ik on t(k)");
    for (int rep = 0; rep < 10; rep++)
        run(db, "select g, count(*), round(avg(x), 4), min(k), max(k), round(sum(x * x) / 1e6, 3) "
                "from t group by g order by g limit 3 offset 2");
    run(db, "select count(*) from t a join t b on a.k = b.k where a.g = 3");
    run(db, "select k, printf('%.6e', x / 7.0) from t where g = 5 order by x desc limit 4");
    run(db, "update t set x = -x where g % 2 = 1");
    run(db, "select printf('%.9g', total(x)), group_concat(g, '') from (select x, g from t order by k limit 40)");
    run(db, "delete from t where x < 0");
    run(db, "select count(*), max(id), typeof(min(x)) from t");
    sqlite3_close(db);
    return 0;
}
