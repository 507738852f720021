/* SPDX-License-Identifier: MIT */
/*
 * engine.h - mailoauthd's token engine: one state machine per account
 *
 * The engine answers the protocol's requests (it is the server's handler),
 * keeps every account's access token fresh before it expires, and shares
 * one refresh among all the callers that wait for it.
 *
 * For each account:
 *
 *	EMPTY ──refresh──▶ VALID ──(expiry − margin − jitter)──▶ refresh
 *	  ▲                  │ ▲                                   │
 *	  │                  │ └──────────── success ◀─────────────┤
 *	  │                  └─(expires)─▶ EMPTY                   │
 *	  └── transient failure: back off, keep serving a valid    │
 *	      token; permanent failure: LOGIN/ADMIN/CONFIG ◀───────┘
 *
 * A refresh loads the account's secret from the store, asks the identity
 * provider, and when the provider rotated the refresh token stores the new
 * one durably *before* the access token it came with is served. An account
 * nobody asked for in a while is refreshed only as often as its refresh
 * token needs to stay alive.
 *
 * SECURITY
 *	Requests are authorised against the account's allow list with the
 *	peer's kernel credentials. Tokens and secrets are wiped when dropped
 *	and never appear in a log line or an error sentence.
 *
 * DIAGNOSTICS
 *	The engine logs through g_log with G_LOG_DOMAIN "mailoauthd" (main.c
 *	routes that to the journal or syslog): one line per state change,
 *	with the account name and the provider's error codes.
 */
#ifndef MAILOAUTH_ENGINE_H
#define MAILOAUTH_ENGINE_H

#include "config.h"
#include "http.h"
#include "server.h"
#include "store.h"

struct mo_engine;

/* the engine takes CFG; STORE and HTTP stay the caller's */
struct mo_engine *mo_engine_new(struct mo_config *cfg, struct mo_store *store,
				struct mo_http *http);
void mo_engine_free(struct mo_engine *e);

/*
 * mo_engine_reconfigure - adopt NEW_CFG (SIGHUP): accounts whose settings
 * did not change keep their tokens; removed accounts are dropped.
 */
void mo_engine_reconfigure(struct mo_engine *e, struct mo_config *new_cfg);

/* mo_engine_handle - the server's handler (see server.h) */
void mo_engine_handle(struct mo_pending *p, const struct mo_request *req,
		      const struct mo_peer *peer, void *engine);

/* Counters, for tests and benchmarks. */
struct mo_engine_stats {
	unsigned long served_cached, served_after_wait, refreshes,
		refresh_failures, store_saves;
};
void mo_engine_stats(const struct mo_engine *e, struct mo_engine_stats *out);

#endif
