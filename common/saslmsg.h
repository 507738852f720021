/* SPDX-License-Identifier: MIT */
/*
 * saslmsg.h - the client messages of XOAUTH2 and OAUTHBEARER (RFC 7628),
 * and the error challenges servers send back
 *
 * Shared by the SASL plugin, the daemon (for Exim's raw requests) and the
 * CLI (`mailoauth token --xoauth2`, `mailoauth test`). Raw bytes in and
 * out: the application does the base64.
 *
 * SECURITY
 *	A token must be an RFC 6750 b64token and a user or host must hold no
 *	control character, so no field can end the message early or add a
 *	key of its own. Outputs are bounded by the caller's buffer.
 */
#ifndef MAILOAUTH_SASLMSG_H
#define MAILOAUTH_SASLMSG_H

#include <stdbool.h>
#include <stddef.h>

#define MO_CHALLENGE_MAX 4096	/* bigger server challenges are refused */

/* mo_token_valid - LEN bytes of TOKEN form an RFC 6750 b64token */
bool mo_token_valid(const char *token, size_t len);

/*
 * mo_xoauth2_format - "user=USER\x01auth=Bearer TOKEN\x01\x01"
 *
 * Returns the length (no NUL counted; a NUL is written after it),
 * -EINVAL for a bad user or token, -ENOBUFS when BUF is too small.
 */
int mo_xoauth2_format(char *buf, size_t size, const char *user,
		      const char *token);

/*
 * mo_oauthbearer_format - "n,a=AUTHZID,\x01host=H\x01port=P\x01auth=Bearer
 * TOKEN\x01\x01", with ',' and '=' in AUTHZID escaped as =2C and =3D.
 * AUTHZID and HOST may be NULL or empty, PORT 0, to leave them out.
 */
int mo_oauthbearer_format(char *buf, size_t size, const char *authzid,
			  const char *host, unsigned port, const char *token);

/* What a server said when it refused a token (all fields may be empty). */
struct mo_challenge {
	char status[64];	/* "401", "400", "invalid_token", ... */
	char schemes[64];	/* "bearer" */
	char scope[256];	/* the scope the server wanted */
};

/*
 * mo_challenge_parse - read the JSON object of a server's error challenge
 *
 * Accepts any JSON object up to MO_CHALLENGE_MAX bytes; keeps the string
 * members status, schemes and scope (cut to fit, control characters
 * replaced) and skips all other members. Returns 0 or -EBADMSG.
 */
int mo_challenge_parse(const char *data, size_t len, struct mo_challenge *c);

/* mo_challenge_explain - one plain sentence on what the server meant */
const char *mo_challenge_explain(const struct mo_challenge *c);

#endif
