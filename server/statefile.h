/* statefile.h: durable small files in the state directory. A record written by ts_statefile_write is on
 * disk when the call returns 0 (temporary file, fsync, rename, fsync of the directory): a crash or power
 * loss after that keeps it, and one before leaves the old record or none, never half of one. */
#ifndef TS_STATEFILE_H
#define TS_STATEFILE_H

#include <stddef.h>

/* Writes HEAD then BODY as DIR/NAME. 0, or -1 with errno set (the temporary file is removed). */
int ts_statefile_write(const char *dir, const char *name, const void *head, size_t head_len, const void *body,
                       size_t body_len);

/* Whether NAME is one of ts_statefile_write's temporary files (left behind by a crash while writing). */
int ts_statefile_is_temp(const char *name);

#endif
