/* SPDX-License-Identifier: MIT */
/*
 * schedule.c - mailoauthd's timetable: refresh, cache, back-off, keepalive
 *	(see schedule.h)
 *
 * Times are int64_t seconds on one clock; every sum below stays far from
 * overflow for the inputs the engine has (tokens live at most a year, see
 * MO_OAUTH_MAX_EXPIRES). Random inputs are 32-bit values the caller
 * draws (g_random_int in the engine); reducing them modulo a range of a
 * few hundred leaves a bias far too small to matter for spreading load.
 *
 * DIAGNOSTICS
 *	None.
 */
#include "schedule.h"

#include <limits.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

bool mo_sched_servable(int64_t now, int64_t expires_at)
{
	return expires_at - MO_SCHED_MIN_LEFT_S > now;
}

int64_t mo_sched_jitter(int margin, uint32_t rnd)
{
	int64_t max = MIN(MO_SCHED_JITTER_MAX_S, MAX(margin, 0) / 10);

	return (int64_t)(rnd % (uint64_t)(max + 1));
}

int64_t mo_sched_refresh_at(int64_t now, int64_t expires_at, int margin,
			    int64_t jitter)
{
	int64_t at = expires_at - MAX(margin, 0) - MAX(jitter, 0);

	if (at >= now + MO_SCHED_MIN_LEFT_S)
		return at;	/* the margin can be kept */
	/* shorter than margin + jitter + a minute: a minute after it came,
	 * while it is still served */
	at = now + MO_SCHED_MIN_LEFT_S;
	if (mo_sched_servable(at, expires_at))
		return at;
	/* never served from the cache: only the keepalive is planned */
	return now + MO_SCHED_KEEPALIVE_S;
}

int64_t mo_sched_cache_for(int64_t now, int64_t expires_at, int64_t refresh_at)
{
	int64_t until = MIN(refresh_at, expires_at - MO_SCHED_MIN_LEFT_S);

	return until > now ? until - now : 0;
}

unsigned mo_sched_failed(unsigned failures)
{
	return failures < UINT_MAX ? failures + 1 : failures;
}

int64_t mo_sched_backoff(unsigned failures, uint32_t rnd, long retry_after)
{
	unsigned shift = failures > 1 ? MIN(failures - 1, 6u) : 0;
	int64_t wait = MIN((int64_t)MO_SCHED_BACKOFF_MIN_S << shift,
			   MO_SCHED_BACKOFF_MAX_S);

	wait += (int64_t)(rnd % (uint64_t)(wait / 4 + 1));
	if (retry_after > wait)
		wait = MIN(retry_after, MO_SCHED_RETRY_AFTER_MAX_S);
	return wait;
}

bool mo_sched_idle(int64_t at, int64_t used_at)
{
	return at - used_at > MO_SCHED_IDLE_AFTER_S;
}

int64_t mo_sched_idle_due(int64_t due, int64_t refreshed_at, int64_t used_at,
			  unsigned failures)
{
	if (!due || failures || !mo_sched_idle(due, used_at))
		return due;
	return MAX(due, refreshed_at + MO_SCHED_KEEPALIVE_S);
}

int64_t mo_sched_wake(int64_t due, int64_t refresh_at, unsigned failures)
{
	if (!due || failures)
		return due;
	return MIN(due, refresh_at);
}

bool mo_sched_recheck(int64_t now, int64_t failed_at)
{
	return now - failed_at >= MO_SCHED_RECHECK_S;
}

bool mo_sched_may_notify(int64_t now, int64_t notified_at)
{
	return !notified_at || now - notified_at >= MO_SCHED_NOTIFY_EVERY_S;
}

int64_t mo_sched_first_refresh(int64_t now, size_t n_accounts, uint32_t rnd)
{
	uint64_t spread = MAX((uint64_t)2, (uint64_t)n_accounts / 20);

	return now + 1 + (int64_t)(rnd % spread);
}
