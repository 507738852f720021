/* SPDX-License-Identifier: MIT */
/*
 * proto.c - parse and format mailoauthd protocol lines (see proto.h)
 *
 * DIAGNOSTICS
 *	Functions return negative errno values; callers turn them into
 *	messages. Nothing here logs.
 */
#include "proto.h"
#include "saslmsg.h"
#include "strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const verb_names[MO_VERB_COUNT_] = {
	[MO_VERB_HELLO] = "HELLO",
	[MO_VERB_TOKEN] = "TOKEN",
	[MO_VERB_TOKEN_USER] = "TOKEN-USER",
	[MO_VERB_XOAUTH2] = "XOAUTH2",
	[MO_VERB_OAUTHBEARER] = "OAUTHBEARER",
	[MO_VERB_REJECTED] = "REJECTED",
	[MO_VERB_STATUS] = "STATUS",
	[MO_VERB_LIST] = "LIST",
	[MO_VERB_RELOAD] = "RELOAD",
};

/* Allowed argument counts per verb: minimum and maximum. */
static const unsigned char verb_arity[MO_VERB_COUNT_][2] = {
	[MO_VERB_HELLO] = {1, 1},
	[MO_VERB_TOKEN] = {1, 1},
	[MO_VERB_TOKEN_USER] = {1, 2},
	[MO_VERB_XOAUTH2] = {1, 2},
	[MO_VERB_OAUTHBEARER] = {1, 4},
	[MO_VERB_REJECTED] = {2, 2},
	[MO_VERB_STATUS] = {0, 1},
	[MO_VERB_LIST] = {0, 0},
	[MO_VERB_RELOAD] = {0, 1},
};

static const char *const err_names[MO_ERR_COUNT_] = {
	[MO_ERR_BAD_REQUEST] = "bad-request",
	[MO_ERR_UNKNOWN_VERB] = "unknown-verb",
	[MO_ERR_VERSION] = "unsupported-version",
	[MO_ERR_UNKNOWN_ACCOUNT] = "unknown-account",
	[MO_ERR_DENIED] = "denied",
	[MO_ERR_LOGIN_REQUIRED] = "login-required",
	[MO_ERR_ADMIN_REQUIRED] = "admin-required",
	[MO_ERR_CONFIG] = "config-error",
	[MO_ERR_UNAVAILABLE] = "unavailable",
	[MO_ERR_INTERNAL] = "internal",
};

const char *mo_verb_name(enum mo_verb verb)
{
	return (unsigned)verb < MO_VERB_COUNT_ ? verb_names[verb] : "?";
}

const char *mo_err_name(enum mo_err err)
{
	return (unsigned)err < MO_ERR_COUNT_ ? err_names[err] : "internal";
}

bool mo_err_is_temporary(enum mo_err err)
{
	return err == MO_ERR_UNAVAILABLE || err == MO_ERR_INTERNAL;
}

static bool is_argchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

bool mo_arg_valid(const char *arg)
{
	size_t n;

	if (!arg)
		return false;
	for (n = 0; arg[n]; n++)
		if (n >= MO_ARG_MAX || !is_argchar((unsigned char)arg[n]))
			return false;
	return n > 0;
}

bool mo_account_name_valid(const char *name)
{
	size_t n;

	if (!name || !((name[0] >= 'a' && name[0] <= 'z') ||
		       (name[0] >= 'A' && name[0] <= 'Z') ||
		       (name[0] >= '0' && name[0] <= '9')))
		return false;
	for (n = 0; name[n]; n++) {
		char c = name[n];

		if (n >= MO_ACCOUNT_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '@' || c == '+' || c == '-'))
			return false;
	}
	return true;
}

/* strip_eol - drop one trailing LF and then one CR; reject inner NUL/LF */
static int strip_eol(char *line, size_t *len)
{
	if (*len && line[*len - 1] == '\n')
		(*len)--;
	if (*len && line[*len - 1] == '\r')
		(*len)--;
	if (memchr(line, '\0', *len) || memchr(line, '\n', *len))
		return -EINVAL;
	line[*len] = '\0';
	return 0;
}

int mo_request_parse(char *line, size_t len, struct mo_request *req)
{
	char *p, *word;
	unsigned v, nwords = 0;
	const char *words[MO_ARGS_MAX + 1];

	/* LEN counts the LF; the buffer needs one more byte for our NUL */
	if (len > MO_REQUEST_MAX)
		return -EMSGSIZE;
	if (strip_eol(line, &len) < 0)
		return -EINVAL;

	for (p = line; *p;) {
		if (*p != ' ' && !is_argchar((unsigned char)*p))
			return -EINVAL;
		if (*p == ' ') {
			/* exactly one space between words, none at the ends */
			if (p == line || p[1] == ' ' || p[1] == '\0')
				return -EINVAL;
			*p++ = '\0';
			continue;
		}
		word = p;
		while (is_argchar((unsigned char)*p))
			p++;
		if ((size_t)(p - word) > MO_ARG_MAX)
			return -EINVAL;
		if (nwords == MO_ARGS_MAX + 1)
			return -EINVAL;
		words[nwords++] = word;
	}
	if (nwords == 0)
		return -EINVAL;

	for (v = 0; v < MO_VERB_COUNT_; v++)
		if (strcmp(words[0], verb_names[v]) == 0)
			break;
	if (v == MO_VERB_COUNT_)
		return -EOPNOTSUPP;
	if (nwords - 1 < verb_arity[v][0] || nwords - 1 > verb_arity[v][1])
		return -EINVAL;

	req->verb = (enum mo_verb)v;
	req->nargs = nwords - 1;
	for (unsigned i = 0; i < MO_ARGS_MAX; i++)
		req->args[i] = i + 1 < nwords ? words[i + 1] : NULL;
	return 0;
}

/* finish - end a response or request line with LF */
static int finish(struct mo_strbuf *a)
{
	mo_strbuf_put(a, "\n", 1);
	return mo_strbuf_end(a);
}

int mo_request_format(char *buf, size_t size, enum mo_verb verb,
		      const char *const *args, unsigned nargs)
{
	struct mo_strbuf a = MO_STRBUF(buf, size);

	if ((unsigned)verb >= MO_VERB_COUNT_ || nargs < verb_arity[verb][0] ||
	    nargs > verb_arity[verb][1])
		return -EINVAL;
	mo_strbuf_puts(&a, verb_names[verb]);
	for (unsigned i = 0; i < nargs; i++) {
		if (!mo_arg_valid(args[i]))
			return -EINVAL;
		mo_strbuf_put(&a, " ", 1);
		mo_strbuf_puts(&a, args[i]);
	}
	if (a.len + 1 > MO_REQUEST_MAX)
		a.overflow = true;
	return finish(&a);
}

/* parse_ll - a non-negative decimal field of at most 18 digits */
static int parse_ll(const char *s, long long *out)
{
	long long v = 0;
	size_t n = 0;

	for (; s[n]; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 18)
			return -EBADMSG;
		v = v * 10 + (s[n] - '0');
	}
	if (n == 0)
		return -EBADMSG;
	*out = v;
	return 0;
}

/* parse_field - one key=value of an OK response */
static int parse_field(char *key, struct mo_response *resp)
{
	char *val = strchr(key, '=');

	if (!val || val == key)
		return -EBADMSG;
	*val++ = '\0';
	for (const char *c = val; *c; c++)
		if (!is_argchar((unsigned char)*c))
			return -EBADMSG;

	if (strcmp(key, "account") == 0)
		resp->account = val;
	else if (strcmp(key, "user") == 0)
		resp->user = val;
	else if (strcmp(key, "token") == 0) {
		resp->token = val;
		resp->token_len = strlen(val);
		if (resp->token_len > MO_TOKEN_MAX ||
		    !mo_token_valid(val, resp->token_len))
			return -EBADMSG;
	} else if (strcmp(key, "gen") == 0)
		return parse_ll(val, &resp->gen);
	else if (strcmp(key, "expires_in") == 0)
		return parse_ll(val, &resp->expires_in);
	else if (strcmp(key, "cache_for") == 0)
		return parse_ll(val, &resp->cache_for);
	return 0;	/* unknown keys are for later versions */
}

static int parse_ok_fields(char *p, struct mo_response *resp)
{
	if (*p == '\0')
		return 0;
	if (*p++ != ' ')
		return -EBADMSG;
	for (;;) {
		char *end = p + strcspn(p, " ");
		bool more = *end == ' ';
		int r;

		*end = '\0';
		r = parse_field(p, resp);
		if (r < 0)
			return r;
		if (!more)
			return 0;
		p = end + 1;
	}
}

int mo_response_parse(char *line, size_t len, struct mo_response *resp)
{
	char *p;

	memset(resp, 0, sizeof(*resp));
	resp->gen = resp->expires_in = resp->cache_for = -1;
	if (len > MO_RESPONSE_MAX)
		return -EMSGSIZE;
	if (strip_eol(line, &len) < 0)
		return -EBADMSG;

	if (strncmp(line, "ERR ", 4) == 0) {
		char *code = line + 4, *text = strchr(code, ' ');

		if (text)
			*text++ = '\0';
		resp->err = MO_ERR_INTERNAL;
		for (unsigned e = 0; e < MO_ERR_COUNT_; e++)
			if (strcmp(code, err_names[e]) == 0)
				resp->err = (enum mo_err)e;
		resp->text = text ? text : "";
		/* it goes into other programs' logs: printable, and short */
		for (p = text; p && *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		if (text && strlen(text) > MO_TEXT_MAX)
			text[MO_TEXT_MAX] = '\0';
		return 0;
	}
	if (strncmp(line, "OK", 2) != 0 || (line[2] && line[2] != ' '))
		return -EBADMSG;
	resp->ok = true;
	return parse_ok_fields(line + 2, resp);
}

int mo_response_format_token(char *buf, size_t size, const char *account,
			     const char *user, long long gen,
			     long long expires_in, long long cache_for,
			     const char *token)
{
	struct mo_strbuf a = MO_STRBUF(buf, size);
	char num[96];

	if (!mo_arg_valid(account) || !mo_arg_valid(user) || gen < 0 ||
	    expires_in < 0 || cache_for < 0 || gen > MO_NUMBER_MAX ||
	    expires_in > MO_NUMBER_MAX || cache_for > MO_NUMBER_MAX ||
	    strlen(token) > MO_TOKEN_MAX ||
	    !mo_token_valid(token, strlen(token)))
		return -EINVAL;
	mo_strbuf_puts(&a, "OK account=");
	mo_strbuf_puts(&a, account);
	mo_strbuf_puts(&a, " user=");
	mo_strbuf_puts(&a, user);
	snprintf(num, sizeof(num), " gen=%lld expires_in=%lld cache_for=%lld",
		 gen, expires_in, cache_for);
	mo_strbuf_puts(&a, num);
	mo_strbuf_puts(&a, " token=");
	mo_strbuf_puts(&a, token);
	if (a.len + 1 > MO_RESPONSE_MAX)
		a.overflow = true;
	return finish(&a);
}

int mo_response_format_ok(char *buf, size_t size, const char *fields)
{
	struct mo_strbuf a = MO_STRBUF(buf, size);

	mo_strbuf_puts(&a, "OK");
	if (fields && *fields) {
		for (const char *c = fields; *c; c++)
			if (*c != ' ' && !is_argchar((unsigned char)*c))
				return -EINVAL;
		mo_strbuf_put(&a, " ", 1);
		mo_strbuf_puts(&a, fields);
	}
	if (a.len + 1 > MO_RESPONSE_MAX)
		a.overflow = true;
	return finish(&a);
}

int mo_response_format_error(char *buf, size_t size, enum mo_err err,
			     const char *text)
{
	struct mo_strbuf a = MO_STRBUF(buf, size);
	size_t n;

	mo_strbuf_puts(&a, "ERR ");
	mo_strbuf_puts(&a, mo_err_name(err));
	if (text && *text) {
		mo_strbuf_put(&a, " ", 1);
		for (n = 0; text[n] && n < MO_TEXT_MAX; n++) {
			unsigned char c = (unsigned char)text[n];
			char out = (c >= 0x20 && c < 0x7f) ? (char)c : '?';

			mo_strbuf_put(&a, &out, 1);
		}
	}
	return finish(&a);
}
