/* statefile.c: see statefile.h. */
#include "statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEMP_MARK ".tmp."

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* The rename is durable only once the directory entry is: fsync the directory too. */
static int sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

int ts_statefile_write(const char *dir, const char *name, const void *head, size_t head_len, const void *body,
                       size_t body_len) {
  char path[4096], tmp[4200];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  snprintf(tmp, sizeof tmp, "%s" TEMP_MARK "XXXXXX", path);
  int fd = mkostemp(tmp, O_CLOEXEC); /* unique: two threads may save the same name at once */
  if (fd < 0) return -1;
  int rc = write_all(fd, head, head_len) || write_all(fd, body, body_len) || fsync(fd);
  int saved = errno;
  if (close(fd) != 0 && !rc) {
    rc = -1;
    saved = errno;
  }
  if (!rc && rename(tmp, path) != 0) {
    rc = -1;
    saved = errno;
  }
  if (rc) {
    unlink(tmp);
    errno = saved;
    return -1;
  }
  return sync_dir(dir);
}

int ts_statefile_is_temp(const char *name) { return strstr(name, TEMP_MARK) != NULL; }
