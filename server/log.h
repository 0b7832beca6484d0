/* log.h: one structured line per notable event, as JSON on stderr:
 *   {"ts":"2026-11-27T10:00:00.123Z","level":"info","event":"listening","addr":"unix:/run/tc.sock"}
 * Fields follow the event, each made with TS_S (a string) or TS_I (an integer), then NULL:
 *   ts_log(TS_INFO, "listening", TS_S("addr", addr), TS_I("threads", n), NULL);
 * The level is process-wide configuration, set once at start-up before any thread runs. */
#ifndef TS_LOG_H
#define TS_LOG_H

typedef enum ts_log_level { TS_DEBUG = 0, TS_INFO, TS_WARN, TS_ERROR } ts_log_level;

/* Parses "debug", "info", "warn" or "error"; -1 if none. */
int ts_log_parse_level(const char *s);
void ts_log_set_level(ts_log_level level);
int ts_log_enabled(ts_log_level level);

#define TS_S(key, value) (key), 's', (const char *)(value)
#define TS_I(key, value) (key), 'i', (long long)(value)

void ts_log(ts_log_level level, const char *event, ...);

#endif
