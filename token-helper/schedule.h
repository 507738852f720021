/* SPDX-License-Identifier: MIT */
/*
 * schedule.h - when mailoauthd refreshes, serves, backs off and retries
 *
 * The arithmetic of engine.c's timetable, apart from its I/O: every
 * function takes the time ("now", seconds on the engine's CLOCK_BOOTTIME
 * clock) and any random input as arguments, so that the unit tests
 * (tests/unit/test-schedule.c) can drive days of it on a fake clock. No
 * clock, no random generator, no main loop, no allocation here.
 *
 * The timetable of one account:
 *
 *	- a token is served while more than MO_SCHED_MIN_LEFT_S of it is
 *	  left (mo_sched_servable);
 *	- its refresh is planned refresh_margin + jitter before it expires,
 *	  but no sooner than MO_SCHED_MIN_LEFT_S after it came; a token too
 *	  short for that to fall while it is still served gets no planned
 *	  refresh (callers refresh it on demand), only the keepalive
 *	  (mo_sched_refresh_at); a client may cache it until that planned
 *	  refresh (mo_sched_cache_for);
 *	- a transient failure backs off from MO_SCHED_BACKOFF_MIN_S doubling
 *	  to MO_SCHED_BACKOFF_MAX_S, plus up to a quarter at random, or waits
 *	  as long as the provider's Retry-After asks, up to
 *	  MO_SCHED_RETRY_AFTER_MAX_S (mo_sched_backoff); nothing refreshes a
 *	  servable token inside that period;
 *	- an account nobody asked for in the MO_SCHED_IDLE_AFTER_S before its
 *	  planned refresh is refreshed only MO_SCHED_KEEPALIVE_S after its
 *	  last refresh, so that its refresh token never lapses
 *	  (mo_sched_idle_due); asked for again, it is back on its token's
 *	  plan (mo_sched_wake);
 *	- a failed account looks at the store again at most every
 *	  MO_SCHED_RECHECK_S, notify_command runs at most every
 *	  MO_SCHED_NOTIFY_EVERY_S, and the first refreshes after start-up are
 *	  spread over a few seconds.
 *
 * A due time of 0 means "none" throughout, as in engine.c.
 *
 * DIAGNOSTICS
 *	None: pure functions, defined for every input (a failures count of
 *	0 counts as 1, negative margins and Retry-After values as none).
 */
#ifndef MAILOAUTH_SCHEDULE_H
#define MAILOAUTH_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MO_SCHED_MIN_LEFT_S	60		/* never serve a token with less left */
#define MO_SCHED_JITTER_MAX_S	120		/* and at most a tenth of the margin */
#define MO_SCHED_IDLE_AFTER_S	(2 * 3600)	/* not asked for this long: idle */
#define MO_SCHED_KEEPALIVE_S	(24 * 3600)	/* idle accounts refresh this often */
#define MO_SCHED_BACKOFF_MIN_S	15
#define MO_SCHED_BACKOFF_MAX_S	900		/* before the random quarter */
#define MO_SCHED_RETRY_AFTER_MAX_S 3600		/* longer Retry-After: this */
#define MO_SCHED_RECHECK_S	30		/* a failed account looks at the store again */
#define MO_SCHED_NOTIFY_EVERY_S	3600

/* mo_sched_servable - a token expiring at EXPIRES_AT may be served at NOW */
bool mo_sched_servable(int64_t now, int64_t expires_at);

/*
 * mo_sched_jitter - how much earlier than the margin says a token is
 * refreshed, so that accounts do not refresh in step: 0 to a tenth of
 * MARGIN, MO_SCHED_JITTER_MAX_S at most, chosen by the random RND.
 */
int64_t mo_sched_jitter(int margin, uint32_t rnd);

/*
 * mo_sched_refresh_at - the planned refresh of a token that came at NOW
 * and expires at EXPIRES_AT: EXPIRES_AT - MARGIN - JITTER, but at least
 * MO_SCHED_MIN_LEFT_S after NOW (the margin cannot be kept for a token
 * shorter than it: it is then used for a minute). When even that minute
 * would take it past the moment it stops being served (it lives two
 * minutes or less), NOW + MO_SCHED_KEEPALIVE_S: refreshing it ahead would
 * only fetch tokens that are never served from the cache, once a minute;
 * callers get theirs fetched when they ask.
 */
int64_t mo_sched_refresh_at(int64_t now, int64_t expires_at, int margin,
			    int64_t jitter);

/*
 * mo_sched_cache_for - how many seconds from NOW a client may reuse a
 * token expiring at EXPIRES_AT whose refresh is planned for REFRESH_AT:
 * never past that refresh, never past the moment the daemon would stop
 * serving it; 0 when either has come.
 */
int64_t mo_sched_cache_for(int64_t now, int64_t expires_at, int64_t refresh_at);

/* mo_sched_failed - FAILURES + 1, saturating (it is shown, and shifted) */
unsigned mo_sched_failed(unsigned failures);

/*
 * mo_sched_backoff - seconds to wait after the FAILURES-th transient
 * failure in a row: MO_SCHED_BACKOFF_MIN_S << (FAILURES - 1), capped at
 * MO_SCHED_BACKOFF_MAX_S, plus 0..25 % chosen by RND. A RETRY_AFTER
 * (seconds, negative for none) longer than that is honoured instead, up to
 * MO_SCHED_RETRY_AFTER_MAX_S.
 */
int64_t mo_sched_backoff(unsigned failures, uint32_t rnd, long retry_after);

/* mo_sched_idle - nobody asked for the account (last at USED_AT) in the
 * MO_SCHED_IDLE_AFTER_S before AT */
bool mo_sched_idle(int64_t at, int64_t used_at);

/*
 * mo_sched_idle_due - the refresh DUE of an account holding a token,
 * postponed to REFRESHED_AT + MO_SCHED_KEEPALIVE_S when the account was
 * idle at DUE (not at the present: after a suspend, an account in use is
 * refreshed at once). Never earlier than DUE. A back-off retry (FAILURES
 * > 0) and "none" (0) are left as they are.
 */
int64_t mo_sched_idle_due(int64_t due, int64_t refreshed_at, int64_t used_at,
			  unsigned failures);

/*
 * mo_sched_wake - the refresh due of an account holding a servable token
 * that was just asked for: a refresh postponed for idleness is brought
 * back to the token's REFRESH_AT. A back-off retry (FAILURES > 0) and
 * "none" stay as they are.
 */
int64_t mo_sched_wake(int64_t due, int64_t refresh_at, unsigned failures);

/* mo_sched_recheck - a failed account (since FAILED_AT) may look at the
 * store again at NOW */
bool mo_sched_recheck(int64_t now, int64_t failed_at);

/* mo_sched_may_notify - notify_command may run at NOW (last at
 * NOTIFIED_AT, 0 for never) */
bool mo_sched_may_notify(int64_t now, int64_t notified_at);

/*
 * mo_sched_first_refresh - the first look at one of N_ACCOUNTS accounts
 * after start-up or a reload: 1 to max(2, N_ACCOUNTS / 20) seconds after
 * NOW, chosen by RND, so that many accounts do not all go at once.
 */
int64_t mo_sched_first_refresh(int64_t now, size_t n_accounts, uint32_t rnd);

#endif
