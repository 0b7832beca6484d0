/* server_proc.c: see server_proc.h. */
#include "server_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tablecar.h"

#define GUARD_SECONDS 120 /* only a hang reaches it */

double sp_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sp_sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

sp_server *sp_new(void) {
  sp_server *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  const char *tmp = getenv("TC_TEST_TMPDIR");
  if (!tmp || !*tmp || strlen(tmp) > 80) tmp = "/tmp";
  mkdir(tmp, 0777);
  snprintf(s->dir, sizeof s->dir, "%s/tcspXXXXXX", tmp);
  if (!mkdtemp(s->dir)) {
    free(s);
    return NULL;
  }
  snprintf(s->data, sizeof s->data, "%s/data", s->dir);
  snprintf(s->state, sizeof s->state, "%s/state", s->dir);
  snprintf(s->sock, sizeof s->sock, "%s/s.sock", s->dir);
  snprintf(s->log, sizeof s->log, "%s/server.log", s->dir);
  snprintf(s->target, sizeof s->target, "unix:%s", s->sock);
  mkdir(s->data, 0777);
  s->pid = -1;
  return s;
}

static int wait_ready(sp_server *s) {
  tc_client *c;
  if (tc_client_new(s->target, NULL, &c)) return -1;
  int st = -1, rc = -1;
  for (double t0 = sp_now(); sp_now() - t0 < GUARD_SECONDS;) {
    if (tc_health_check(c, "", &(tc_call_opts){.timeout_ms = 5000, .no_retry = 1}, &st) == TC_OK &&
        st == TC_HEALTH_SERVING) {
      rc = 0;
      break;
    }
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
      fprintf(stderr, "tablecar-server exited at start:\n");
      sp_dump_log(s);
      s->pid = -1;
      break;
    }
    sp_sleep_ms(20);
  }
  tc_client_free(c);
  return rc;
}

int sp_start(sp_server *s, const char *bin, long nofile, const char *const *extra) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    if (nofile > 0) {
      struct rlimit rl = {(rlim_t)nofile, (rlim_t)nofile};
      if (setrlimit(RLIMIT_NOFILE, &rl)) _exit(126);
    }
    char listen[260];
    snprintf(listen, sizeof listen, "unix:%s", s->sock);
    const char *argv[64] = {bin,    "--data-dir",       s->data, "--state-dir", s->state, "--listen",
                            listen, "--rescan-seconds", "0",     "--threads",   "4"};
    int n = 11;
    for (int i = 0; extra && extra[i] && n < 63; i++) argv[n++] = extra[i];
    execv(bin, (char **)argv);
    _exit(127);
  }
  s->pid = pid;
  return wait_ready(s);
}

int sp_stop(sp_server *s) {
  if (s->pid <= 0) return -1;
  kill(s->pid, SIGCONT);
  kill(s->pid, SIGTERM);
  int ws = 0;
  pid_t r = 0;
  for (double t0 = sp_now(); sp_now() - t0 < GUARD_SECONDS && (r = waitpid(s->pid, &ws, WNOHANG)) == 0;) sp_sleep_ms(5);
  if (r == 0) {
    /* before the kill: what each of its threads waits in, and what it logged, for whoever debugs it */
    char cmd[200];
    snprintf(cmd, sizeof cmd, "for t in /proc/%d/task/*; do echo \"$t $(cat $t/comm) $(cat $t/wchan)\"; done >&2",
             (int)s->pid);
    if (system(cmd)) {}
    sp_dump_log(s);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &ws, 0);
    fprintf(stderr, "tablecar-server did not stop within %d s of SIGTERM\n", GUARD_SECONDS);
    ws = -1;
  }
  s->pid = -1;
  return ws >= 0 && WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

void sp_kill(sp_server *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = -1;
}

int sp_log_has(const sp_server *s, const char *needle) {
  FILE *f = fopen(s->log, "r");
  if (!f) return 0;
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
  fclose(f);
  return found;
}

void sp_dump_log(const sp_server *s) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", s->log);
  if (system(cmd)) {}
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

void sp_free(sp_server *s) {
  if (!s) return;
  if (s->pid > 0) sp_kill(s);
  if (!getenv("TS_KEEP")) nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(s);
}

int sp_count_fds(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) n += de->d_name[0] != '.';
  closedir(d);
  return n;
}
