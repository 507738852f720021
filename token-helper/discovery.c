/* SPDX-License-Identifier: MIT */
/* discovery.c - RFC 8414 metadata discovery (being written; see discovery.h) */
#include "discovery.h"

G_DEFINE_QUARK(mo-discovery-error-quark, mo_discovery_error)

bool mo_discovery_resolve_sync(struct mo_account_config *a, GError **error)
{
	if (!a->needs_discovery)
		return true;
	g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
		    "account %s: issuer discovery is not written yet", a->name);
	return false;
}
