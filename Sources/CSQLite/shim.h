#include <sqlite3.h>

/* sqlite3_config is variadic, which Swift cannot call: one non-variadic wrapper per use. */

/* Turns off SQLite's memory statistics, which otherwise take a global mutex on every
   allocation. Must run before the library initializes (before the first connection). */
static inline int folio_sqlite_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
