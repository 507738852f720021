/* SPDX-License-Identifier: MIT */
/*
 * proto.h - the mailoauthd socket protocol, version 1 (docs/protocol.md)
 *
 * One implementation of the wire format shared by the SASL plugin, the
 * daemon and the CLI: parsing and formatting of request and response lines.
 * No I/O and no allocation here; everything works on caller-owned buffers,
 * so a caller that holds a token in a buffer wipes that buffer itself.
 *
 * SECURITY
 *	Every size is bounded by the constants below, checked before copying.
 *	Parsers accept only printable ASCII in arguments, so a token or a user
 *	name can never smuggle a line break or a SASL separator (\x01).
 */
#ifndef MAILOAUTH_PROTO_H
#define MAILOAUTH_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#define MO_PROTO_VERSION 1

#define MO_REQUEST_MAX   1024	/* one request line, LF included */
#define MO_RESPONSE_MAX  16384	/* one response line, LF included */
#define MO_ARG_MAX       320	/* one request argument (an address fits) */
#define MO_ARGS_MAX      4	/* arguments after the verb */
#define MO_TOKEN_MAX     12288	/* an access token */
#define MO_TEXT_MAX      512	/* the sentence of an ERR response */
#define MO_NUMBER_MAX    999999999999999999LL	/* 18 digits: gen, times */

enum mo_verb {
	MO_VERB_HELLO,		/* HELLO version */
	MO_VERB_TOKEN,		/* TOKEN account */
	MO_VERB_TOKEN_USER,	/* TOKEN-USER user [account] */
	MO_VERB_XOAUTH2,	/* XOAUTH2 account [user]: raw SASL string */
	MO_VERB_OAUTHBEARER,	/* OAUTHBEARER account [user [host [port]]] */
	MO_VERB_REJECTED,	/* REJECTED account gen */
	MO_VERB_STATUS,		/* STATUS [account] */
	MO_VERB_LIST,		/* LIST */
	MO_VERB_RELOAD,		/* RELOAD */
	MO_VERB_COUNT_
};

/* Stable error codes of ERR responses; see docs/protocol.md. */
enum mo_err {
	MO_ERR_BAD_REQUEST,	/* malformed or oversized request */
	MO_ERR_UNKNOWN_VERB,
	MO_ERR_VERSION,		/* protocol version not supported */
	MO_ERR_UNKNOWN_ACCOUNT,
	MO_ERR_DENIED,		/* caller's uid/gid not in the account's allow */
	MO_ERR_LOGIN_REQUIRED,	/* no usable grant: run mailoauth login */
	MO_ERR_ADMIN_REQUIRED,	/* consent, MFA or policy needs an admin */
	MO_ERR_CONFIG,		/* the account's configuration is wrong */
	MO_ERR_UNAVAILABLE,	/* temporary: IdP or store unreachable, retry */
	MO_ERR_INTERNAL,	/* temporary: the daemon failed */
	MO_ERR_COUNT_
};

struct mo_request {
	enum mo_verb verb;
	unsigned nargs;
	const char *args[MO_ARGS_MAX];	/* point into the parsed buffer */
};

/* A parsed OK response. Pointers refer into the caller's line buffer. */
struct mo_response {
	bool ok;
	enum mo_err err;	/* when !ok; MO_ERR_INTERNAL if unknown */
	const char *text;	/* when !ok: the server's sentence */
	const char *account;	/* the fields below may be NULL/-1 if absent */
	const char *user;
	const char *token;
	size_t token_len;
	long long gen;
	long long expires_in;
	long long cache_for;
};

const char *mo_verb_name(enum mo_verb verb);
const char *mo_err_name(enum mo_err err);
/* mo_err_is_temporary - true when retrying later may succeed unchanged */
bool mo_err_is_temporary(enum mo_err err);

/* mo_arg_valid - an argument: 1..MO_ARG_MAX printable ASCII, no space */
bool mo_arg_valid(const char *arg);

#define MO_ACCOUNT_MAX 64

/*
 * mo_account_name_valid - an account name: 1..MO_ACCOUNT_MAX of
 * [A-Za-z0-9._@+-], starting with a letter or digit
 */
bool mo_account_name_valid(const char *name);

/*
 * mo_request_parse - parse one request line in place
 *
 * LINE holds LEN bytes, without or with the trailing LF (and optional CR),
 * in a buffer of at least LEN + 1 bytes: it is modified (separators and
 * the end become NUL). Returns 0, -EMSGSIZE when too
 * long, -EINVAL for bad syntax or argument count, -EOPNOTSUPP for an
 * unknown verb.
 */
int mo_request_parse(char *line, size_t len, struct mo_request *req);

/*
 * mo_request_format - write "VERB arg..\n" into BUF
 *
 * Returns the length written, -EINVAL for an invalid argument or count,
 * -ENOBUFS when BUF is too small.
 */
int mo_request_format(char *buf, size_t size, enum mo_verb verb,
		      const char *const *args, unsigned nargs);

/*
 * mo_response_parse - parse one response line in place
 *
 * Same conventions as mo_request_parse (a buffer of LEN + 1 bytes). The
 * sentence of an ERR response is made printable and cut to MO_TEXT_MAX.
 * An OK response must carry
 * well-formed key=value fields; unknown keys are ignored (forward
 * compatibility). Returns 0 or -EMSGSIZE / -EBADMSG.
 */
int mo_response_parse(char *line, size_t len, struct mo_response *resp);

/*
 * mo_response_format_token - "OK account=.. user=.. gen=.. expires_in=..
 * cache_for=.. token=..\n". Returns the length or -EINVAL / -ENOBUFS.
 */
int mo_response_format_token(char *buf, size_t size, const char *account,
			     const char *user, long long gen,
			     long long expires_in, long long cache_for,
			     const char *token);

/*
 * mo_response_format_ok - "OK" followed by FIELDS (may be NULL or "",
 * already formatted key=value pairs separated by spaces) and LF.
 */
int mo_response_format_ok(char *buf, size_t size, const char *fields);

/*
 * mo_response_format_error - "ERR code text\n"; TEXT is cut to
 * MO_TEXT_MAX and any byte outside printable ASCII becomes '?'.
 */
int mo_response_format_error(char *buf, size_t size, enum mo_err err,
			     const char *text);

#endif
