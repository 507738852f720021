/* SPDX-License-Identifier: MIT */
/*
 * test-schedule.c - mailoauthd's timetable (token-helper/schedule.c)
 *
 * First each function at its edges: when a token is served, the jitter's
 * bounds, the planned refresh of long, short and very short tokens,
 * cache_for, the back-off sequence with its cap, random quarter, failure
 * counter saturation and Retry-After, idleness and the keepalive, the
 * recheck and notify limits, the start-up spread.
 *
 * Then a fake clock: a small model of one account that calls these
 * functions exactly where engine.c does (install_token, fail_transiently,
 * on_timer, request_token) against a fake provider that can be down, and
 * runs it through simulated hours and days: an account used every few
 * seconds, an idle account over 200 days with a 90-day refresh token, an
 * outage with and without a valid token, Retry-After, a suspend that moves
 * the boot clock past expiry, and tokens shorter than the margin. After
 * every step it checks the invariants: a served token has more than
 * MO_SCHED_MIN_LEFT_S left and cache_for does not reach past the planned
 * refresh; no refresh of a servable token and no timer refresh inside a
 * back-off period; the refresh token never lapses.
 */
#include "unit.h"
#include "schedule.h"

#include <limits.h>
#include <stdio.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define T0	1000000		/* boot-time seconds when a simulation starts */
#define HOUR	3600
#define DAY	(24 * HOUR)
#define RT_LIFETIME (90 * DAY)	/* an Entra ID refresh token left unused */
#define NO_USE	INT64_MAX	/* sim_run: nobody asks */

/* xorshift32: the simulations' random inputs, the same on every run */
static uint32_t rnd_next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* ------------------------------------------------------------ functions */

static void servable_edges(void **state)
{
	(void)state;
	assert_true(mo_sched_servable(T0, T0 + 3600));
	assert_true(mo_sched_servable(T0, T0 + MO_SCHED_MIN_LEFT_S + 1));
	assert_false(mo_sched_servable(T0, T0 + MO_SCHED_MIN_LEFT_S));
	assert_false(mo_sched_servable(T0, T0));
	assert_false(mo_sched_servable(T0, T0 - 1));
	assert_false(mo_sched_servable(T0, 0));	/* no token yet */
}

static void jitter_bounds(void **state)
{
	uint32_t x = 1;

	(void)state;
	for (int margin = 60; margin <= 3000; margin++) {
		int64_t max = MIN(MO_SCHED_JITTER_MAX_S, margin / 10);

		assert_int_equal(mo_sched_jitter(margin, 0), 0);
		assert_int_equal(mo_sched_jitter(margin, (uint32_t)max), max);
		assert_in_range(mo_sched_jitter(margin, UINT32_MAX), 0, max);
		for (int i = 0; i < 50; i++)
			assert_in_range(mo_sched_jitter(margin, rnd_next(&x)), 0, max);
	}
	assert_int_equal(mo_sched_jitter(600, 60), 60);		/* a tenth */
	assert_int_equal(mo_sched_jitter(600, 61), 0);
	assert_int_equal(mo_sched_jitter(3000, 120), 120);	/* two minutes */
	assert_int_equal(mo_sched_jitter(3000, 121), 0);
	assert_int_equal(mo_sched_jitter(5, UINT32_MAX), 0);	/* nothing to spread */
	assert_int_equal(mo_sched_jitter(-600, UINT32_MAX), 0);

	/* every value is drawn */
	{
		int seen[61] = {0}, missing = 0;

		for (int i = 0; i < 20000; i++)
			seen[mo_sched_jitter(600, rnd_next(&x))]++;
		for (int j = 0; j <= 60; j++)
			missing += !seen[j];
		assert_int_equal(missing, 0);
	}
}

static void refresh_at_long_tokens(void **state)
{
	(void)state;
	/* an hour with the default margin: 600 s plus the jitter ahead */
	for (int64_t j = 0; j <= 60; j++)
		assert_int_equal(mo_sched_refresh_at(T0, T0 + 3600, 600, j),
				 T0 + 3600 - 600 - j);
	/* the largest margin and jitter still leave 8 minutes of use */
	assert_int_equal(mo_sched_refresh_at(T0, T0 + 3600, 3000, 120), T0 + 480);
	/* the smallest margin: refreshed as it stops being served */
	assert_int_equal(mo_sched_refresh_at(T0, T0 + 3600, 60, 0),
			 T0 + 3600 - MO_SCHED_MIN_LEFT_S);
	/* a day (Entra ID with CAE) and a year */
	assert_int_equal(mo_sched_refresh_at(T0, T0 + DAY, 600, 30), T0 + DAY - 630);
	assert_int_equal(mo_sched_refresh_at(T0, T0 + 365LL * DAY, 600, 0),
			 T0 + 365LL * DAY - 600);
	/* the margin can just be kept: exactly a minute of use */
	assert_int_equal(mo_sched_refresh_at(T0, T0 + 720, 600, 60), T0 + 60);
}

static void refresh_at_short_tokens(void **state)
{
	(void)state;
	/* 300 s with a 600 s margin: a minute after it came, still served
	 * for 3 minutes after that, and never sooner (no loop) */
	for (int64_t j = 0; j <= 60; j++) {
		int64_t at = mo_sched_refresh_at(T0, T0 + 300, 600, j);

		assert_int_equal(at, T0 + MO_SCHED_MIN_LEFT_S);
		assert_true(mo_sched_servable(at, T0 + 300));
	}
	/* 121 s: still a second of serving left at the refresh */
	assert_int_equal(mo_sched_refresh_at(T0, T0 + 121, 600, 0), T0 + 60);
	assert_true(mo_sched_servable(T0 + 60, T0 + 121));
	/* 120 s and less is never served from the cache by then: no
	 * refresh ahead (callers refresh it), only the keepalive */
	assert_int_equal(mo_sched_refresh_at(T0, T0 + 120, 600, 0),
			 T0 + MO_SCHED_KEEPALIVE_S);
	assert_int_equal(mo_sched_refresh_at(T0, T0 + 30, 600, 0),
			 T0 + MO_SCHED_KEEPALIVE_S);
	assert_int_equal(mo_sched_refresh_at(T0, T0 + 1, 60, 6),
			 T0 + MO_SCHED_KEEPALIVE_S);
	/* a token already expired when it came (a clock jump during the
	 * request): no loop either */
	assert_int_equal(mo_sched_refresh_at(T0, T0 - 5, 600, 0),
			 T0 + MO_SCHED_KEEPALIVE_S);

	/* every lifetime, margin and jitter: at least a minute away; before
	 * the token stops being served when it can be served at all; the
	 * margin and jitter kept whenever that leaves a minute of use */
	for (int64_t life = 1; life <= 2 * 3600; life += 7)
		for (int margin = 60; margin <= 3000; margin += 60)
			for (int64_t j = 0; j <= MIN(120, margin / 10); j += 3) {
				int64_t at = mo_sched_refresh_at(T0, T0 + life,
								 margin, j);

				assert_true(at >= T0 + MO_SCHED_MIN_LEFT_S);
				if (life - margin - j >= MO_SCHED_MIN_LEFT_S)
					assert_int_equal(at, T0 + life - margin - j);
				else if (life > 2 * MO_SCHED_MIN_LEFT_S)
					assert_int_equal(at, T0 + MO_SCHED_MIN_LEFT_S);
				else
					assert_int_equal(at, T0 + MO_SCHED_KEEPALIVE_S);
				if (life > 2 * MO_SCHED_MIN_LEFT_S)
					assert_true(at <= T0 + life - MO_SCHED_MIN_LEFT_S);
			}
}

static void cache_for_bounds(void **state)
{
	(void)state;
	/* the usual case: until the planned refresh */
	assert_int_equal(mo_sched_cache_for(T0, T0 + 3600, T0 + 2970), 2970);
	assert_int_equal(mo_sched_cache_for(T0 + 2969, T0 + 3600, T0 + 2970), 1);
	assert_int_equal(mo_sched_cache_for(T0 + 2970, T0 + 3600, T0 + 2970), 0);
	assert_int_equal(mo_sched_cache_for(T0 + 3000, T0 + 3600, T0 + 2970), 0);
	/* never past the moment the daemon stops serving it */
	assert_int_equal(mo_sched_cache_for(T0, T0 + 100, T0 + DAY), 40);
	assert_int_equal(mo_sched_cache_for(T0, T0 + 30, T0 + DAY), 0);
	assert_int_equal(mo_sched_cache_for(T0, T0 + 300, T0 + 60), 60);

	/* every token and moment: within both bounds */
	for (int64_t life = 1; life <= 7200; life += 13)
		for (int margin = 60; margin <= 3000; margin += 180) {
			int64_t at = mo_sched_refresh_at(T0, T0 + life, margin,
							 MIN(120, margin / 10));

			for (int64_t now = T0 - 10; now <= T0 + life + 10; now += 11) {
				int64_t c = mo_sched_cache_for(now, T0 + life, at);

				assert_true(c >= 0);
				if (c > 0) {
					assert_true(now + c <= at);
					assert_true(mo_sched_servable(now + c - 1,
								      T0 + life));
				}
			}
		}
}

static void backoff_sequence(void **state)
{
	static const int64_t base[] = {15, 30, 60, 120, 240, 480, 900, 900, 900};
	uint32_t x = 7;

	(void)state;
	for (unsigned f = 1; f <= 9; f++) {
		int64_t b = base[f - 1];

		assert_int_equal(mo_sched_backoff(f, 0, -1), b);
		assert_int_equal(mo_sched_backoff(f, (uint32_t)(b / 4), -1), b + b / 4);
		for (int i = 0; i < 1000; i++)
			assert_in_range(mo_sched_backoff(f, rnd_next(&x), -1),
					b, b + b / 4);
	}
	/* and it stays capped however long it goes on */
	for (unsigned f = 10; f < 100000; f += 997)
		assert_in_range(mo_sched_backoff(f, rnd_next(&x), -1),
				MO_SCHED_BACKOFF_MAX_S,
				MO_SCHED_BACKOFF_MAX_S + MO_SCHED_BACKOFF_MAX_S / 4);
	assert_int_equal(mo_sched_backoff(UINT_MAX, 0, -1), MO_SCHED_BACKOFF_MAX_S);
	assert_int_equal(mo_sched_backoff(UINT_MAX, 225, -1), 1125);
	assert_int_equal(mo_sched_backoff(0, 0, -1), MO_SCHED_BACKOFF_MIN_S);
}

static void failures_saturate(void **state)
{
	unsigned f = UINT_MAX - 3;

	(void)state;
	assert_int_equal(mo_sched_failed(0), 1);
	assert_int_equal(mo_sched_failed(41), 42);
	for (int i = 0; i < 10; i++)
		f = mo_sched_failed(f);
	assert_true(f == UINT_MAX);		/* not wrapped to 0 */
	assert_int_equal(mo_sched_backoff(f, 0, -1), MO_SCHED_BACKOFF_MAX_S);
}

static void retry_after(void **state)
{
	(void)state;
	/* shorter than the back-off: the back-off stands */
	assert_int_equal(mo_sched_backoff(1, 0, 0), 15);
	assert_int_equal(mo_sched_backoff(1, 0, 10), 15);
	assert_int_equal(mo_sched_backoff(1, 3, 15), 18);
	assert_int_equal(mo_sched_backoff(7, 0, 600), 900);
	/* longer: honoured as given, without the random part */
	assert_int_equal(mo_sched_backoff(1, 0, 16), 16);
	assert_int_equal(mo_sched_backoff(1, 3, 120), 120);
	assert_int_equal(mo_sched_backoff(7, 225, 1200), 1200);
	assert_int_equal(mo_sched_backoff(1, 0, MO_SCHED_RETRY_AFTER_MAX_S),
			 MO_SCHED_RETRY_AFTER_MAX_S);
	/* longer than the cap: the cap */
	assert_int_equal(mo_sched_backoff(1, 0, MO_SCHED_RETRY_AFTER_MAX_S + 1),
			 MO_SCHED_RETRY_AFTER_MAX_S);
	assert_int_equal(mo_sched_backoff(1, 0, 86400), MO_SCHED_RETRY_AFTER_MAX_S);
	assert_int_equal(mo_sched_backoff(UINT_MAX, UINT32_MAX, LONG_MAX),
			 MO_SCHED_RETRY_AFTER_MAX_S);
	/* none */
	assert_int_equal(mo_sched_backoff(3, 0, -1), 60);
	assert_int_equal(mo_sched_backoff(3, 0, LONG_MIN), 60);
}

static void idle_and_keepalive(void **state)
{
	int64_t r = T0, keep = T0 + MO_SCHED_KEEPALIVE_S;

	(void)state;
	assert_false(mo_sched_idle(T0 + MO_SCHED_IDLE_AFTER_S, T0));
	assert_true(mo_sched_idle(T0 + MO_SCHED_IDLE_AFTER_S + 1, T0));
	assert_true(mo_sched_idle(T0, 0));	/* never asked for */

	/* in use at its planned refresh: as planned */
	assert_int_equal(mo_sched_idle_due(r + 3000, r, r + 2000, 0), r + 3000);
	assert_int_equal(mo_sched_idle_due(r + 3000, r, r + 3000 - MO_SCHED_IDLE_AFTER_S, 0),
			 r + 3000);
	/* idle: the keepalive, a day after the last refresh */
	assert_int_equal(mo_sched_idle_due(r + 3000, r, r - 5 * HOUR, 0), keep);
	assert_int_equal(mo_sched_idle_due(r + 3000, r, 0, 0), keep);
	/* at the keepalive itself: due (no endless postponing) */
	assert_int_equal(mo_sched_idle_due(keep, r, 0, 0), keep);
	/* never earlier than it was */
	assert_int_equal(mo_sched_idle_due(keep + 10, r, 0, 0), keep + 10);
	/* a back-off retry is not postponed, and the keepalive waits for
	 * the end of a back-off period it falls into */
	assert_int_equal(mo_sched_idle_due(r + 3015, r, 0, 1), r + 3015);
	assert_int_equal(mo_sched_idle_due(keep + 900, r, 0, 5), keep + 900);
	/* nothing due stays so */
	assert_int_equal(mo_sched_idle_due(0, r, 0, 0), 0);
	/* idleness is judged when the refresh fell due, not when a late
	 * timer (a suspend) noticed: used 10 minutes before it, refreshed */
	assert_int_equal(mo_sched_idle_due(r + 3000, r, r + 2400, 0), r + 3000);

	/* asked for again: back on the token's plan */
	assert_int_equal(mo_sched_wake(keep, r + 3000, 0), r + 3000);
	assert_int_equal(mo_sched_wake(r + 3000, r + 3000, 0), r + 3000);
	assert_int_equal(mo_sched_wake(r + 3015, r + 3000, 2), r + 3015);
	assert_int_equal(mo_sched_wake(0, r + 3000, 0), 0);
}

static void recheck_notify_spread(void **state)
{
	uint32_t x = 3;

	(void)state;
	assert_false(mo_sched_recheck(T0 + MO_SCHED_RECHECK_S - 1, T0));
	assert_true(mo_sched_recheck(T0 + MO_SCHED_RECHECK_S, T0));
	assert_true(mo_sched_recheck(T0, 0));	/* RELOAD cleared it */

	assert_true(mo_sched_may_notify(T0, 0));
	assert_false(mo_sched_may_notify(T0 + 1, T0));
	assert_false(mo_sched_may_notify(T0 + MO_SCHED_NOTIFY_EVERY_S - 1, T0));
	assert_true(mo_sched_may_notify(T0 + MO_SCHED_NOTIFY_EVERY_S, T0));

	/* 1..max(2, n / 20) seconds from now, every value drawn */
	for (size_t n = 0; n <= 5000; n = n * 3 + 1) {
		int64_t spread = MAX(2, (int64_t)n / 20);
		int64_t lo = INT64_MAX, hi = 0;

		assert_int_equal(mo_sched_first_refresh(T0, n, 0), T0 + 1);
		assert_int_equal(mo_sched_first_refresh(T0, n, (uint32_t)spread - 1),
				 T0 + spread);
		for (int i = 0; i < 20000; i++) {
			int64_t t = mo_sched_first_refresh(T0, n, rnd_next(&x));

			lo = MIN(lo, t);
			hi = MAX(hi, t);
		}
		assert_int_equal(lo, T0 + 1);
		assert_int_equal(hi, T0 + spread);
	}
	assert_in_range(mo_sched_first_refresh(T0, SIZE_MAX, UINT32_MAX) - T0, 1,
			UINT32_MAX + 1ULL);
}

/* ------------------------------------------------------------ fake clock */

/*
 * One account as engine.c keeps it, and the provider it talks to. A
 * refresh takes no time here; everything else is as in the engine.
 */
struct sim {
	/* the world */
	int64_t now;
	int margin;
	int64_t life;		/* of the tokens the provider issues */
	bool down;		/* the provider fails transiently */
	long retry_after;	/* with this Retry-After, -1 for none */
	uint32_t rnd;
	/* the account (engine.c's struct acct) */
	bool valid;		/* ST_VALID */
	int64_t expires_at, refreshed_at, refresh_at, used_at, due;
	unsigned failures;
	/* what the checks need */
	int64_t backoff_end;	/* the truth, apart from due */
	int64_t rt_issued;	/* the refresh token in the store */
	int64_t last_refresh, last_attempt;
	/* counters and extremes */
	unsigned refreshes, attempts, on_demand, served, timer_refreshes;
	int64_t min_gap, max_gap;	/* between successful refreshes */
	int64_t min_spare;	/* left of the old token when refreshed ahead */
	int64_t min_served_left;
	int64_t min_attempt_gap, max_attempt_gap;	/* while failing */
};

#define SIM_CHECK(s, cond) do { \
	if (!(cond)) \
		fail_msg("at T0%+lld s (day %lld): %s", \
			 (long long)((s)->now - T0), \
			 (long long)(((s)->now - T0) / DAY), #cond); \
} while (0)

static void sim_init(struct sim *s, int64_t life, int margin, uint32_t seed)
{
	memset(s, 0, sizeof(*s));
	s->now = T0;
	s->life = life;
	s->margin = margin;
	s->retry_after = -1;
	s->rnd = seed ? seed : 1;
	s->rt_issued = T0;		/* `mailoauth login` just now */
	s->due = mo_sched_first_refresh(T0, 1, rnd_next(&s->rnd));
	s->min_gap = s->min_spare = s->min_served_left = INT64_MAX;
	s->min_attempt_gap = INT64_MAX;
}

static void sim_reset_stats(struct sim *s)
{
	s->refreshes = s->attempts = s->on_demand = s->served = 0;
	s->timer_refreshes = 0;
	s->min_gap = s->min_spare = s->min_served_left = INT64_MAX;
	s->min_attempt_gap = INT64_MAX;
	s->max_gap = s->max_attempt_gap = 0;
}

/* sim_refresh - acct_refresh and what follows: install_token on success,
 * fail_transiently on failure. ON_DEMAND: a caller without a servable
 * token asked (the one case the engine refreshes inside a back-off). */
static void sim_refresh(struct sim *s, bool on_demand)
{
	bool servable = s->valid && mo_sched_servable(s->now, s->expires_at);

	if (!on_demand)
		SIM_CHECK(s, s->now >= s->backoff_end);
	if (s->attempts && s->failures) {
		int64_t gap = s->now - s->last_attempt;

		s->min_attempt_gap = MIN(s->min_attempt_gap, gap);
		s->max_attempt_gap = MAX(s->max_attempt_gap, gap);
	}
	s->attempts++;
	s->last_attempt = s->now;
	s->due = 0;
	if (s->down) {
		int64_t wait;

		s->failures = mo_sched_failed(s->failures);
		wait = mo_sched_backoff(s->failures, rnd_next(&s->rnd), s->retry_after);
		s->due = s->backoff_end = s->now + wait;
		if (!servable)
			s->valid = false;
		return;
	}
	/* the provider rotates the refresh token; it must still be alive */
	SIM_CHECK(s, s->now - s->rt_issued < RT_LIFETIME);
	s->rt_issued = s->now;
	if (servable && !on_demand)
		s->min_spare = MIN(s->min_spare, s->expires_at - s->now);
	if (s->refreshes) {
		s->min_gap = MIN(s->min_gap, s->now - s->last_refresh);
		s->max_gap = MAX(s->max_gap, s->now - s->last_refresh);
	}
	s->refreshes++;
	s->last_refresh = s->now;
	s->valid = true;
	s->expires_at = s->now + s->life;
	s->refreshed_at = s->now;
	s->failures = 0;
	s->backoff_end = 0;
	s->refresh_at = mo_sched_refresh_at(s->now, s->expires_at, s->margin,
					    mo_sched_jitter(s->margin,
							    rnd_next(&s->rnd)));
	s->due = s->refresh_at;
	SIM_CHECK(s, s->due > s->now);
}

/* sim_timer - on_timer for this account */
static void sim_timer(struct sim *s)
{
	if (!s->due || s->due > s->now)
		return;
	if (s->valid)
		s->due = mo_sched_idle_due(s->due, s->refreshed_at, s->used_at,
					   s->failures);
	if (s->due <= s->now) {
		s->timer_refreshes++;
		sim_refresh(s, false);
	}
}

/* sim_request - request_token; true when served from the cache */
static bool sim_request(struct sim *s)
{
	if (s->valid && mo_sched_servable(s->now, s->expires_at)) {
		int64_t c = mo_sched_cache_for(s->now, s->expires_at, s->refresh_at);

		s->served++;
		s->min_served_left = MIN(s->min_served_left, s->expires_at - s->now);
		SIM_CHECK(s, s->expires_at - s->now > MO_SCHED_MIN_LEFT_S);
		SIM_CHECK(s, c >= 0 && s->now + c <= MAX(s->now, s->refresh_at));
		SIM_CHECK(s, c == 0 || mo_sched_servable(s->now + c - 1, s->expires_at));
		s->due = mo_sched_wake(s->due, s->refresh_at, s->failures);
		if (s->due && s->now >= s->due)
			sim_refresh(s, false);
		s->used_at = s->now;
		return true;
	}
	s->used_at = s->now;
	s->on_demand++;
	sim_refresh(s, true);
	return false;
}

/*
 * sim_run - advance the clock to UNTIL, firing the timer when it is due
 * and asking for the token every EVERY seconds from the start (NO_USE:
 * nobody asks). Events at UNTIL itself are left for the next run.
 */
static void sim_run(struct sim *s, int64_t until, int64_t every)
{
	int64_t next_use = every == NO_USE ? INT64_MAX : s->now;
	long guard = 0;

	for (;;) {
		int64_t t = MIN(next_use, s->due ? s->due : INT64_MAX);

		if (t >= until)
			break;
		if (t > s->now)
			s->now = t;
		sim_timer(s);
		if (next_use <= s->now) {
			sim_request(s);
			next_use = s->now + every;
		}
		if (++guard > 50000000)
			fail_msg("the simulation does not advance");
	}
	s->now = MAX(s->now, until);
}

/* ------------------------------------------------------------ simulations */

/* continuous use: refreshed ahead of every expiry, once per token */
static void sim_used_continuously(void **state)
{
	static const struct {
		int64_t life;
		int margin;
	} cases[] = {
		{3600, 600}, {5400, 600}, {4500, 600},	/* Google, Entra ID */
		{3600, 60}, {3600, 3000}, {DAY, 600},	/* CAE: a day */
		{1200, 600},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim s;
		int64_t jmax = MIN(120, cases[i].margin / 10);
		int64_t period_min = cases[i].life - cases[i].margin - jmax;
		int64_t period_max = cases[i].life - cases[i].margin;

		sim_init(&s, cases[i].life, cases[i].margin, 11 + (uint32_t)i);
		sim_run(&s, T0 + 3 * DAY, 20);
		/* only the very first request waited for the provider */
		assert_int_equal(s.on_demand, 1);
		assert_int_equal(s.attempts, s.refreshes);
		/* every refresh came ahead, with margin (+ jitter) to spare */
		assert_true(s.min_spare >= cases[i].margin);
		assert_true(s.min_spare <= cases[i].margin + jmax);
		/* and only one per token: the next one a lifetime minus the
		 * margin and jitter later */
		assert_true(s.min_gap >= period_min);
		assert_true(s.max_gap <= period_max);
		assert_in_range(s.refreshes, 3 * DAY / period_max,
				3 * DAY / period_min + 1);
		/* every token served had at least the margin left */
		assert_true(s.min_served_left >= cases[i].margin);
	}
}

/* an account used in bursts: the timer keeps it fresh between them */
static void sim_used_hourly(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 3600, 600, 5);
	for (int h = 0; h < 72; h++) {
		sim_run(&s, s.now + 60, 10);		/* a minute of mail */
		sim_run(&s, s.now + HOUR - 60, NO_USE);	/* then quiet */
	}
	assert_int_equal(s.on_demand, 1);
	assert_true(s.min_spare >= 600);
	assert_true(s.min_gap >= 3600 - 600 - 60);
}

/* idle for 200 days: one refresh a day, the refresh token never lapses */
static void sim_idle_200_days(void **state)
{
	struct sim s;
	int64_t k;

	(void)state;
	sim_init(&s, 3600, 600, 17);
	sim_run(&s, T0 + HOUR, 60);		/* used for an hour */
	sim_run(&s, T0 + 3 * HOUR, NO_USE);	/* becomes idle */
	sim_reset_stats(&s);
	sim_run(&s, T0 + 200LL * DAY, NO_USE);
	assert_in_range(s.refreshes, 198, 200);
	assert_int_equal(s.min_gap, MO_SCHED_KEEPALIVE_S);
	assert_int_equal(s.max_gap, MO_SCHED_KEEPALIVE_S);
	assert_int_equal(s.attempts, s.refreshes);
	assert_true(s.now - s.rt_issued <= MO_SCHED_KEEPALIVE_S);

	/* asked for again after its planned refresh was put off, with 5
	 * minutes of the keepalive's token left (still served): a refresh
	 * starts at once, it does not wait for the next keepalive */
	k = s.refreshed_at + MO_SCHED_KEEPALIVE_S;
	sim_run(&s, k + 3600 - 300, NO_USE);
	assert_int_equal(s.refreshed_at, k);
	assert_int_equal(s.due, k + MO_SCHED_KEEPALIVE_S);	/* put off */
	sim_reset_stats(&s);
	assert_true(sim_request(&s));
	assert_int_equal(s.refreshes, 1);
	assert_int_equal(s.refreshed_at, s.now);
	/* in use again: refreshed ahead by the timer, margin kept */
	sim_reset_stats(&s);
	sim_run(&s, s.now + 3 * HOUR, 60);
	assert_int_equal(s.on_demand, 0);
	assert_true(s.timer_refreshes >= 3);
	assert_true(s.min_spare >= 600);
	/* idle again (two hours on): back to the keepalive */
	sim_run(&s, s.now + 3 * HOUR, NO_USE);
	sim_reset_stats(&s);
	sim_run(&s, s.now + 5 * DAY, NO_USE);
	assert_int_equal(s.refreshes, 5);
	assert_int_equal(s.min_gap, MO_SCHED_KEEPALIVE_S);
}

/* never asked for since the daemon started: the keepalive from the start */
static void sim_never_used(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 3600, 600, 23);
	sim_run(&s, T0 + 200LL * DAY, NO_USE);
	/* the first look, then one a day */
	assert_in_range(s.refreshes, 200, 201);
	assert_int_equal(s.min_gap, MO_SCHED_KEEPALIVE_S);
	assert_int_equal(s.on_demand, 0);
}

/* an idle account meets outages: back-off, recovery, no lapse */
static void sim_idle_outage(void **state)
{
	struct sim s;
	int64_t outage_end;

	(void)state;
	sim_init(&s, 3600, 600, 29);
	sim_run(&s, T0 + HOUR, 60);
	sim_run(&s, T0 + 10 * DAY, NO_USE);
	/* three days down, from just before the next keepalive */
	s.down = true;
	sim_reset_stats(&s);
	outage_end = s.now + 3 * DAY;
	sim_run(&s, outage_end, NO_USE);
	assert_int_equal(s.refreshes, 0);
	assert_false(s.valid);		/* the token lapsed meanwhile */
	assert_true(s.min_attempt_gap >= MO_SCHED_BACKOFF_MIN_S);
	assert_true(s.max_attempt_gap <= MO_SCHED_BACKOFF_MAX_S * 5 / 4);
	/* about 3 days / 15 minutes of retries, no more */
	assert_in_range(s.attempts, 3 * DAY / 1125, 3 * DAY / 900 + 10);
	s.down = false;
	sim_reset_stats(&s);
	sim_run(&s, outage_end + MO_SCHED_BACKOFF_MAX_S * 5 / 4 + 1, NO_USE);
	assert_int_equal(s.refreshes, 1);	/* back within one back-off */
	assert_int_equal(s.failures, 0);
	/* then the keepalive again, and the 90-day grant never lapsed
	 * (sim_refresh checks it) over 200 days with an 80-day outage */
	sim_run(&s, s.now + 3 * DAY, NO_USE);
	s.down = true;
	sim_run(&s, s.now + 80 * DAY, NO_USE);
	s.down = false;
	sim_reset_stats(&s);
	sim_run(&s, T0 + 200LL * DAY, NO_USE);
	assert_true(s.refreshes >= 100);
	assert_true(s.now - s.rt_issued <= MO_SCHED_KEEPALIVE_S);
}

/*
 * An idle account whose token outlives the keepalive by 5 minutes: its
 * planned refresh is put off to the keepalive, which fails with a long
 * Retry-After. The token is served on, nobody (caller or timer) refreshes
 * inside the back-off, and the retry at its end is not put off again.
 */
static void sim_keepalive_in_backoff(void **state)
{
	struct sim s;
	int64_t keep;

	(void)state;
	sim_init(&s, MO_SCHED_KEEPALIVE_S + 300, 600, 31);
	sim_run(&s, T0 + 10, 5);			/* the first token */
	keep = s.refreshed_at + MO_SCHED_KEEPALIVE_S;
	sim_run(&s, keep - 60, NO_USE);			/* idle */
	assert_int_equal(s.refreshes, 1);
	assert_int_equal(s.due, keep);			/* put off */
	s.down = true;
	s.retry_after = 1800;
	sim_run(&s, keep + 1, NO_USE);			/* the keepalive fails */
	assert_int_equal(s.attempts, 2);
	assert_int_equal(s.due, keep + 1800);
	assert_true(s.valid);
	sim_run(&s, keep + 200, 10);		/* asked for: still served */
	assert_true(s.served > 0);
	assert_int_equal(s.on_demand, 1);	/* the very first only */
	assert_int_equal(s.attempts, 2);	/* nothing inside the back-off */
	sim_run(&s, keep + 1800, NO_USE);
	assert_int_equal(s.attempts, 2);
	s.down = false;
	sim_run(&s, keep + 1801, NO_USE);
	assert_int_equal(s.refreshes, 2);
	assert_int_equal(s.refreshed_at, keep + 1800);
	/* and, idle, the keepalive a day after that */
	sim_reset_stats(&s);
	sim_run(&s, keep + 1801 + 5 * DAY, NO_USE);
	assert_int_equal(s.min_gap, MO_SCHED_KEEPALIVE_S);
}

/* the provider fails while a token is valid: served on, backed off */
static void sim_outage_valid_token(void **state)
{
	struct sim s;
	int64_t serve_until;
	unsigned attempts;

	(void)state;
	sim_init(&s, 3600, 600, 37);
	sim_run(&s, T0 + 2 * HOUR, 20);
	s.down = true;
	sim_reset_stats(&s);
	serve_until = s.expires_at - MO_SCHED_MIN_LEFT_S;
	/* used every 5 s until the token can no longer be served */
	sim_run(&s, serve_until, 5);
	assert_int_equal(s.on_demand, 0);	/* served from the cache */
	assert_true(s.min_served_left > MO_SCHED_MIN_LEFT_S);
	/* the failures came at the back-off's pace, 15 s doubling: all
	 * those requests did not bring one more */
	attempts = s.attempts;
	assert_true(attempts >= 4);
	assert_true(attempts <= 8);
	assert_true(s.min_attempt_gap >= MO_SCHED_BACKOFF_MIN_S);
	/* then callers find no token: they ask the provider themselves
	 * (engine.c refreshes on demand when nothing can be served) */
	sim_run(&s, serve_until + 60, 5);
	assert_true(s.on_demand > 0);
	assert_false(s.valid);
	s.down = false;
	assert_false(sim_request(&s));
	assert_true(s.valid);
	assert_int_equal(s.failures, 0);
	assert_true(sim_request(&s));
}

/* Retry-After: honoured when longer than the back-off, capped at an hour */
static void sim_retry_after(void **state)
{
	struct sim s;
	int64_t t;

	(void)state;
	sim_init(&s, 3600, 600, 41);
	sim_run(&s, T0 + 10, 5);
	s.down = true;
	s.retry_after = 300;
	t = s.refresh_at;
	sim_run(&s, t + 1, 30);
	assert_int_equal(s.due, t + 300);
	sim_run(&s, t + 301, 30);
	assert_int_equal(s.due, t + 600);	/* the second one waits as long */
	assert_true(s.valid);

	s.retry_after = 7 * DAY;		/* absurd: an hour */
	sim_run(&s, t + 601, NO_USE);
	assert_int_equal(s.due, t + 600 + MO_SCHED_RETRY_AFTER_MAX_S);
	assert_false(s.valid);	/* the token expired meanwhile... */
	s.down = false;
	s.retry_after = -1;
	sim_run(&s, t + 600 + MO_SCHED_RETRY_AFTER_MAX_S + 1, NO_USE);
	assert_true(s.valid);	/* ...and came back after the hour */
	assert_int_equal(s.refreshed_at, t + 600 + MO_SCHED_RETRY_AFTER_MAX_S);
}

/* a suspend moves the boot clock past the expiry */
static void sim_suspend(void **state)
{
	struct sim s;
	unsigned before;

	(void)state;
	/* in use when the laptop is closed, opened 3 hours later: the late
	 * timer refreshes at once (the account was not idle when its
	 * refresh fell due, whatever the clock says now) */
	sim_init(&s, 3600, 600, 43);
	sim_run(&s, T0 + 5 * HOUR + 1200, 30);
	before = s.refreshes;
	s.now += 3 * HOUR;
	assert_false(mo_sched_servable(s.now, s.expires_at));
	assert_true(s.due <= s.now);
	sim_timer(&s);
	assert_int_equal(s.refreshes, before + 1);
	assert_int_equal(s.refreshed_at, s.now);
	assert_true(sim_request(&s));

	/* the same, but a caller comes before the timer: the expired token
	 * is not served, the caller waits for the refresh */
	sim_run(&s, s.now + HOUR, 30);
	before = s.refreshes;
	s.now += 3 * HOUR;
	assert_false(sim_request(&s));
	assert_int_equal(s.refreshes, before + 1);
	assert_true(s.due > s.now);
	sim_timer(&s);				/* nothing more to do */
	assert_int_equal(s.refreshes, before + 1);

	/* a suspend that ends before the expiry, after the planned
	 * refresh: refreshed at once, the token served meanwhile */
	sim_run(&s, s.now + HOUR, 30);
	s.now = s.refresh_at + 120;
	before = s.refreshes;
	assert_true(sim_request(&s));		/* served, and refreshed */
	assert_int_equal(s.refreshes, before + 1);

	/* idle and suspended for three days: the keepalive has passed, so
	 * it is refreshed at once */
	sim_run(&s, s.now + 4 * HOUR, NO_USE);
	s.now += 3 * DAY;
	before = s.refreshes;
	sim_timer(&s);
	assert_int_equal(s.refreshes, before + 1);
	assert_int_equal(s.refreshed_at, s.now);
	/* and goes back to one a day */
	sim_reset_stats(&s);
	sim_run(&s, s.now + 10 * DAY, NO_USE);
	assert_int_equal(s.min_gap, MO_SCHED_KEEPALIVE_S);
}

/* tokens shorter than the margin */
static void sim_short_tokens(void **state)
{
	struct sim s;

	(void)state;
	/* 300 s with a 600 s margin, used every 10 s for a day: refreshed a
	 * minute after each came, 3 minutes of serving left, never in a
	 * loop, never waiting */
	sim_init(&s, 300, 600, 47);
	sim_run(&s, T0 + DAY, 10);
	assert_int_equal(s.on_demand, 1);
	assert_int_equal(s.min_gap, MO_SCHED_MIN_LEFT_S);
	assert_int_equal(s.min_spare, 300 - MO_SCHED_MIN_LEFT_S);
	assert_in_range(s.refreshes, DAY / 60 - 1, DAY / 60 + 1);
	/* kept fresh, a minute apart, for the two hours an account counts
	 * as in use; then one a day */
	sim_reset_stats(&s);
	sim_run(&s, s.now + MO_SCHED_IDLE_AFTER_S + 60, NO_USE);
	assert_in_range(s.refreshes, MO_SCHED_IDLE_AFTER_S / 60 - 1,
			MO_SCHED_IDLE_AFTER_S / 60 + 1);
	assert_int_equal(s.min_gap, MO_SCHED_MIN_LEFT_S);
	sim_reset_stats(&s);
	sim_run(&s, s.now + 20 * DAY, NO_USE);
	assert_in_range(s.refreshes, 19, 21);
	assert_int_equal(s.min_gap, MO_SCHED_KEEPALIVE_S);

	/* 30 s tokens (the e2e tests' client credentials use 3 s): never
	 * served from the cache, so each caller has one fetched; after the
	 * last caller nothing is fetched ahead until the keepalive */
	sim_init(&s, 30, 600, 53);
	sim_run(&s, T0 + HOUR, 10);
	assert_int_equal(s.served, 0);
	assert_int_equal(s.timer_refreshes, 0);
	assert_int_equal(s.refreshes, HOUR / 10);
	assert_int_equal(s.refreshes, s.on_demand);
	sim_reset_stats(&s);
	sim_run(&s, s.now + MO_SCHED_KEEPALIVE_S - 30, NO_USE);
	assert_int_equal(s.refreshes, 0);
	sim_run(&s, s.now + 60, NO_USE);
	assert_int_equal(s.refreshes, 1);

	/* 90 s: served for 30 s, then fetched by the next caller */
	sim_init(&s, 90, 600, 59);
	sim_run(&s, T0 + HOUR, 10);
	assert_int_equal(s.served, 2 * s.on_demand);	/* at +10 and +20 */
	assert_int_equal(s.timer_refreshes, 0);
	assert_true(s.min_served_left > MO_SCHED_MIN_LEFT_S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(servable_edges),
		cmocka_unit_test(jitter_bounds),
		cmocka_unit_test(refresh_at_long_tokens),
		cmocka_unit_test(refresh_at_short_tokens),
		cmocka_unit_test(cache_for_bounds),
		cmocka_unit_test(backoff_sequence),
		cmocka_unit_test(failures_saturate),
		cmocka_unit_test(retry_after),
		cmocka_unit_test(idle_and_keepalive),
		cmocka_unit_test(recheck_notify_spread),
		cmocka_unit_test(sim_used_continuously),
		cmocka_unit_test(sim_used_hourly),
		cmocka_unit_test(sim_idle_200_days),
		cmocka_unit_test(sim_never_used),
		cmocka_unit_test(sim_idle_outage),
		cmocka_unit_test(sim_keepalive_in_backoff),
		cmocka_unit_test(sim_outage_valid_token),
		cmocka_unit_test(sim_retry_after),
		cmocka_unit_test(sim_suspend),
		cmocka_unit_test(sim_short_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
