/* log.h: one structured line per notable event, as JSON on stderr:
 *   {"ts":"2026-11-27T10:00:00.123Z","level":"info","event":"listening","addr":"unix:/run/tc.sock"}
 * Fields follow the event, each made with TC_S (a string) or TC_I (an integer), then NULL:
 *   tc_log(TC_INFO, "listening", TC_S("addr", addr), TC_I("threads", n), NULL);
 * The level is process-wide configuration, set once at start-up before any thread runs. */
#ifndef TC_LOG_H
#define TC_LOG_H

typedef enum tc_log_level { TC_DEBUG = 0, TC_INFO, TC_WARN, TC_ERROR } tc_log_level;

/* Parses "debug", "info", "warn" or "error"; -1 if none. */
int tc_log_parse_level(const char *s);
void tc_log_set_level(tc_log_level level);
int tc_log_enabled(tc_log_level level);

#define TC_S(key, value) (key), 's', (const char *)(value)
#define TC_I(key, value) (key), 'i', (long long)(value)

void tc_log(tc_log_level level, const char *event, ...);

#endif
