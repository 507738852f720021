/* SPDX-License-Identifier: MIT */
/*
 * config.c - read and check mailoauthd's config file (config.h)
 *
 * Three passes over the text:
 *   1. a line scanner of our own that checks the key-file syntax and
 *      reports FILE:LINE for each problem, including what GKeyFile would
 *      accept silently: a key or group given twice (GKeyFile keeps the last
 *      value, or merges the groups), localized keys (key[de], which
 *      GKeyFile hides), NUL bytes and stray control characters;
 *   2. GKeyFile, for the values (escapes such as \s and \\);
 *   3. the meaning: every group and key known, values valid, defaults
 *      filled in, provider presets resolved, allow names resolved to ids,
 *      impossible combinations refused.
 * Every problem found is kept; the caller gets all of them in one GError.
 *
 * SECURITY
 *	A value is never quoted in a message unless it is a short word that
 *	cannot be a secret (a provider name, a user name), and a line the
 *	scanner cannot parse is never quoted at all: a refresh token pasted
 *	into the file must not end up in a log. URLs are parsed here, not by
 *	prefix matching: http:// passes only for 127.0.0.0/8, [::1] and
 *	localhost, and a URL with user@ in its authority, a backslash, spaces
 *	or control characters is refused outright.
 *
 * DIAGNOSTICS
 *	GError only (MO_CONFIG_ERROR, or G_FILE_ERROR for I/O); never logs.
 */
#define _GNU_SOURCE
#include "config.h"
#include "proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef MO_SYSCONFDIR
#define MO_SYSCONFDIR "/etc"
#endif
#define SYSTEM_CONFIG    MO_SYSCONFDIR "/mailoauth/mailoauth.conf"
#define SYSTEM_SOCKET    "/run/mailoauth/socket"
#define SYSTEM_STORE     "/var/lib/mailoauth/store"
#define SYSTEM_STORE_KEY MO_SYSCONFDIR "/mailoauth/store.key"

#define MS_AUTHORITY     "https://login.microsoftonline.com"
#define MS_GRAPH         "https://graph.microsoft.com"
#define MS_SCOPES_DELEGATED \
	"https://outlook.office.com/SMTP.Send " \
	"https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
#define MS_SCOPES_APP    "https://outlook.office365.com/.default"
#define GOOGLE_SCOPES    "https://mail.google.com/"
#define GOOGLE_TOKEN     "https://oauth2.googleapis.com/token"
#define GOOGLE_DEVICE    "https://oauth2.googleapis.com/device/code"
#define GOOGLE_AUTHORIZE "https://accounts.google.com/o/oauth2/v2/auth"
#define GOOGLE_REVOKE    "https://oauth2.googleapis.com/revoke"

#define MAX_PROBLEMS     50	/* reported; the rest are counted */
#define KEY_NAME_MAX     40
#define GROUP_NAME_MAX   100
#define URL_MAX          2048
#define CLIENT_ID_MAX    256
#define SHOWN_MAX        40	/* longest value quoted in a message */
#define NSS_BUF_MAX      (1024 * 1024)

GQuark mo_config_error_quark(void)
{
	return g_quark_from_static_string("mo-config-error-quark");
}

static const char *const provider_names[] = {
	[MO_PROVIDER_MICROSOFT] = "microsoft",
	[MO_PROVIDER_GOOGLE] = "google",
	[MO_PROVIDER_GENERIC] = "generic",
};

static const char *const flow_names[] = {
	[MO_FLOW_DEVICE] = "device",
	[MO_FLOW_AUTHCODE] = "authcode",
	[MO_FLOW_CLIENT_CREDENTIALS] = "client-credentials",
};

static const char *const store_names[] = {
	[MO_STORE_SECRET_SERVICE] = "secret-service",
	[MO_STORE_FILE] = "file",
};

const char *mo_provider_name(enum mo_provider provider)
{
	return (unsigned)provider < G_N_ELEMENTS(provider_names) ?
		       provider_names[provider] : "?";
}

const char *mo_flow_name(enum mo_flow flow)
{
	return (unsigned)flow < G_N_ELEMENTS(flow_names) ? flow_names[flow] : "?";
}

const char *mo_store_name(enum mo_store_kind store)
{
	return (unsigned)store < G_N_ELEMENTS(store_names) ? store_names[store] : "?";
}

static const char *const daemon_keys[] = {
	"socket", "extra_sockets", "store", "store_path", "store_key_file",
	"refresh_margin", "notify_command", NULL,
};

static const char *const account_keys[] = {
	"provider", "flow", "client_id", "user", "scopes", "allow", "tenant",
	"authority", "token_endpoint", "device_authorization_endpoint",
	"authorization_endpoint", "revocation_endpoint", "issuer", "ca_file",
	"graph_url", "client_certificate", NULL,
};

/* parts of key names that mean someone is about to write a secret */
static const char *const secret_words[] = {
	"secret", "password", "passwd", "passphrase", "private_key",
	"privatekey", "private-key", "refresh_token", "refresh-token",
	"access_token", "access-token", "id_token", "api_key", "apikey",
	"assertion", NULL,
};

/* ---- collecting problems ---- */

struct loader {
	const char *file;
	bool user_mode;
	GString *msgs;
	unsigned n_problems;
};

static void begin_problem(struct loader *ld)
{
	if (ld->msgs->len)
		g_string_append_c(ld->msgs, '\n');
}

/* problem - "FILE: [GROUP] KEY: what", "FILE: [GROUP]: what" or "FILE: what" */
G_GNUC_PRINTF(4, 5)
static void problem(struct loader *ld, const char *group, const char *key,
		    const char *fmt, ...)
{
	va_list ap;

	if (++ld->n_problems > MAX_PROBLEMS)
		return;
	begin_problem(ld);
	g_string_append_printf(ld->msgs, "%s: ", ld->file);
	if (group && key)
		g_string_append_printf(ld->msgs, "[%s] %s: ", group, key);
	else if (group)
		g_string_append_printf(ld->msgs, "[%s]: ", group);
	va_start(ap, fmt);
	g_string_append_vprintf(ld->msgs, fmt, ap);
	va_end(ap);
}

/* problem_line - "FILE:LINE: what", for syntax errors */
G_GNUC_PRINTF(3, 4)
static void problem_line(struct loader *ld, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (++ld->n_problems > MAX_PROBLEMS)
		return;
	begin_problem(ld);
	g_string_append_printf(ld->msgs, "%s:%u: ", ld->file, line);
	va_start(ap, fmt);
	g_string_append_vprintf(ld->msgs, fmt, ap);
	va_end(ap);
}

/* showable - a short printable word that may be quoted in a message */
static bool showable(const char *v)
{
	size_t n;

	for (n = 0; v[n]; n++)
		if (n >= SHOWN_MAX || (unsigned char)v[n] <= 0x20 ||
		    (unsigned char)v[n] >= 0x7f || v[n] == '"')
			return false;
	return n > 0;
}

/* problem_value - "WHAT \"VALUE\"REST", leaving VALUE out when not showable */
static void problem_value(struct loader *ld, const char *group, const char *key,
			  const char *what, const char *value, const char *rest)
{
	if (showable(value))
		problem(ld, group, key, "%s \"%s\"%s", what, value, rest);
	else
		problem(ld, group, key, "%s%s", what, rest);
}

/* ---- pass 1: syntax, with line numbers ---- */

static bool is_key_char(char c)
{
	return g_ascii_isalnum(c) || c == '_' || c == '-';
}

/*
 * scan_syntax - check every line of DATA; true when GKeyFile may have it.
 * GKeyFile is lenient where a typo should be loud, so this is stricter.
 */
static bool scan_syntax(struct loader *ld, const char *data, size_t len)
{
	GHashTable *groups = g_hash_table_new_full(g_str_hash, g_str_equal,
						   g_free, NULL);
	GHashTable *keys = NULL;
	char *group = NULL;
	bool bad_group = false;	/* keys after a broken header: not checked */
	unsigned before = ld->n_problems, lineno = 0;
	size_t pos = 0;

	while (pos < len) {
		const char *line = data + pos, *nl, *end, *p, *q;
		size_t n;
		bool ctrl = false;

		lineno++;
		nl = memchr(line, '\n', len - pos);
		n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		end = line + n;
		if (end > line && end[-1] == '\r')
			end--;		/* CRLF */

		if (memchr(line, '\0', (size_t)(end - line))) {
			problem_line(ld, lineno, "contains a NUL byte");
			continue;
		}
		if (!g_utf8_validate_len(line, (gsize)(end - line), NULL)) {
			problem_line(ld, lineno, "is not valid UTF-8");
			continue;
		}
		for (p = line; p < end; p++)
			if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
				ctrl = true;
		if (ctrl) {
			problem_line(ld, lineno, "contains a control character "
				     "(only tabs and spaces are allowed)");
			continue;
		}

		for (p = line; p < end && (*p == ' ' || *p == '\t'); p++)
			;
		if (p == end || *p == '#')
			continue;

		if (*p == '[') {
			const char *name = p + 1;
			char *gname;

			q = memchr(name, ']', (size_t)(end - name));
			if (!q) {
				problem_line(ld, lineno, "a group header needs its "
					     "closing ], as in [account work]");
				goto bad_header;
			}
			for (p = q + 1; p < end && (*p == ' ' || *p == '\t'); p++)
				;
			if (p != end) {
				problem_line(ld, lineno, "text after a group "
					     "header's closing ]; comments go "
					     "on lines of their own");
				goto bad_header;
			}
			if (q == name) {
				problem_line(ld, lineno, "an empty group name []");
				goto bad_header;
			}
			if (memchr(name, '[', (size_t)(q - name))) {
				problem_line(ld, lineno, "a group name cannot "
					     "contain [");
				goto bad_header;
			}
			if (memchr(name, '\t', (size_t)(q - name))) {
				problem_line(ld, lineno, "a group name cannot "
					     "contain a tab");
				goto bad_header;
			}
			if (q - name > GROUP_NAME_MAX) {
				problem_line(ld, lineno, "a group name longer "
					     "than %d bytes", GROUP_NAME_MAX);
				goto bad_header;
			}
			gname = g_strndup(name, (gsize)(q - name));
			if (g_hash_table_contains(groups, gname)) {
				problem_line(ld, lineno, "[%s] appears again "
					     "(first on line %u); merge the two",
					     gname, GPOINTER_TO_UINT(
						     g_hash_table_lookup(groups, gname)));
			} else {
				g_hash_table_insert(groups, g_strdup(gname),
						    GUINT_TO_POINTER(lineno));
			}
			g_free(group);
			group = gname;
			bad_group = false;
			if (keys)
				g_hash_table_destroy(keys);
			keys = g_hash_table_new_full(g_str_hash, g_str_equal,
						     g_free, NULL);
			continue;
bad_header:
			g_clear_pointer(&group, g_free);
			bad_group = true;
			continue;
		}

		if (*p == ';') {
			problem_line(ld, lineno, "comments start with #, not ;");
			continue;
		}
		q = memchr(p, '=', (size_t)(end - p));
		if (!q) {
			problem_line(ld, lineno, "not a [group], a key = value "
				     "line or a # comment");
			continue;
		}
		{
			const char *k = p, *ke = q, *c;
			char *key;

			while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
				ke--;
			if (ke == k) {
				problem_line(ld, lineno, "a value without a key "
					     "name before the =");
				continue;
			}
			if (memchr(k, '[', (size_t)(ke - k))) {
				problem_line(ld, lineno, "localized keys such as "
					     "name[de] are not supported");
				continue;
			}
			for (c = k; c < ke && is_key_char(*c); c++)
				;
			if (c != ke || ke - k > KEY_NAME_MAX) {
				problem_line(ld, lineno, "not a valid key name "
					     "(letters, digits, _ and -)");
				continue;
			}
			if (!group) {
				if (!bad_group)
					problem_line(ld, lineno, "a key before the "
						     "first group; put it under "
						     "[daemon] or an [account NAME]");
				continue;
			}
			key = g_strndup(k, (gsize)(ke - k));
			if (strcmp(key, "Encoding") == 0) {
				/* GKeyFile's own key: it refuses other values */
				problem_line(ld, lineno, "Encoding is not a key of "
					     "this file (it is always UTF-8)");
				g_free(key);
				continue;
			}
			if (g_hash_table_contains(keys, key)) {
				problem_line(ld, lineno, "[%s] %s is set again "
					     "(first on line %u); keep one",
					     group, key, GPOINTER_TO_UINT(
						     g_hash_table_lookup(keys, key)));
				g_free(key);
			} else {
				g_hash_table_insert(keys, key,
						    GUINT_TO_POINTER(lineno));
			}
		}
	}
	if (keys)
		g_hash_table_destroy(keys);
	g_hash_table_destroy(groups);
	g_free(group);
	return ld->n_problems == before;
}

/* ---- pass 2 helpers: values ---- */

enum got { ABSENT, PRESENT, BAD };

enum {
	EMPTY_OK = 1,	/* an empty value means "none" */
	TABS_OK = 2,	/* a list or a command line: tabs separate */
};

/*
 * get - the value of KEY in GROUP, unescaped and stripped of surrounding
 * whitespace, into *OUT (g_free it). Control characters are refused (tabs
 * only with TABS_OK); an empty value is BAD unless EMPTY_OK.
 */
static enum got get(struct loader *ld, GKeyFile *kf, const char *group,
		    const char *key, unsigned flags, char **out)
{
	GError *e = NULL;
	char *v;

	*out = NULL;
	if (!g_key_file_has_key(kf, group, key, NULL))
		return ABSENT;
	v = g_key_file_get_string(kf, group, key, &e);
	if (!v || e) {		/* GLib 2.74 returns a value and an error */
		g_free(v);
		problem(ld, group, key, "has an invalid backslash escape; the "
			"escapes are \\s \\t \\n \\r and \\\\ (for a backslash)");
		g_clear_error(&e);
		return BAD;
	}
	g_strstrip(v);
	for (const char *c = v; *c; c++) {
		if (((unsigned char)*c < 0x20 || *c == 0x7f) &&
		    !(*c == '\t' && (flags & TABS_OK))) {
			problem(ld, group, key, "contains a control character");
			g_free(v);
			return BAD;
		}
	}
	if (!*v && !(flags & EMPTY_OK)) {
		problem(ld, group, key, "must not be empty");
		g_free(v);
		return BAD;
	}
	*out = v;
	return PRESENT;
}

/* split_list - items separated by spaces, tabs or commas; never NULL */
static char **split_list(const char *v)
{
	char **parts = g_strsplit_set(v, " \t,", -1);
	size_t i, j;

	for (i = j = 0; parts[i]; i++) {
		if (parts[i][0])
			parts[j++] = parts[i];
		else
			g_free(parts[i]);
	}
	parts[j] = NULL;
	return parts;
}

static bool check_abs_path(struct loader *ld, const char *group,
			   const char *key, const char *v)
{
	if (v[0] != '/') {
		problem(ld, group, key, "must be an absolute path (starting "
			"with /)");
		return false;
	}
	return true;
}

static bool check_socket_path(struct loader *ld, const char *group,
			      const char *key, const char *v)
{
	if (!check_abs_path(ld, group, key, v))
		return false;
	if (strlen(v) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		problem(ld, group, key, "is too long for a Unix socket (at "
			"most %zu bytes)",
			sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
		return false;
	}
	return true;
}

/* ---- URLs ---- */

enum { URL_NO_QUERY = 1 };

/* host_name_ok - DNS labels of [A-Za-z0-9_-], 1..63 each, 253 in all */
static bool host_name_ok(const char *h, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 254 || h[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (h[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (g_ascii_isalnum(h[i]) || h[i] == '-' || h[i] == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	/* a trailing dot (absolute name) is fine, but only one */
	return n < 254 || h[n - 1] == '.';
}

/*
 * url_problem - NULL when URL is an acceptable https:// URL (or http:// on
 * a loopback host), else what is wrong with it. The authority is parsed as
 * RFC 3986 has it: it ends at the first / ? or #, any @ in it means
 * userinfo (refused), [..] is an IPv6 literal, the port is digits.
 */
static const char *url_problem(const char *url, unsigned flags)
{
	const char *auth, *auth_end, *host_end, *rest;
	char lit[INET6_ADDRSTRLEN + 1];
	bool https, loopback = false;
	size_t n;

	if (strlen(url) > URL_MAX)
		return "is too long for a URL";
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f ||
		    *c == '\\')
			return "contains a space, a control character, a "
			       "backslash or a non-ASCII character; "
			       "percent-encode it";
	if (g_ascii_strncasecmp(url, "https://", 8) == 0) {
		https = true;
		auth = url + 8;
	} else if (g_ascii_strncasecmp(url, "http://", 7) == 0) {
		https = false;
		auth = url + 7;
	} else {
		return "must be an https:// URL";
	}
	auth_end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(auth_end - auth)))
		return "must not contain a user name or password (user@host)";

	if (*auth == '[') {
		const char *close = memchr(auth, ']', (size_t)(auth_end - auth));
		struct in6_addr a6;

		if (!close)
			return "has an invalid host";
		n = (size_t)(close - auth - 1);
		if (n == 0 || n >= sizeof(lit))
			return "has an invalid host";
		memcpy(lit, auth + 1, n);
		lit[n] = '\0';
		if (inet_pton(AF_INET6, lit, &a6) != 1)
			return "has an invalid host";
		loopback = IN6_IS_ADDR_LOOPBACK(&a6);
		host_end = close + 1;
	} else {
		const char *colon = memchr(auth, ':', (size_t)(auth_end - auth));

		host_end = colon ? colon : auth_end;
		n = (size_t)(host_end - auth);
		if (!host_name_ok(auth, n))
			return "has an invalid host";
		if (strspn(auth, "0123456789.") >= n) {
			/* all digits and dots: it must be a dotted quad */
			struct in_addr a4;

			if (n >= sizeof(lit))
				return "has an invalid host";
			memcpy(lit, auth, n);
			lit[n] = '\0';
			if (inet_pton(AF_INET, lit, &a4) != 1)
				return "has an invalid host";
			loopback = (ntohl(a4.s_addr) >> 24) == 127;
		} else {
			loopback = (n == 9 && g_ascii_strncasecmp(auth, "localhost", 9) == 0) ||
				   (n == 10 && g_ascii_strncasecmp(auth, "localhost.", 10) == 0);
		}
	}
	if (host_end < auth_end) {
		const char *port = host_end + 1;
		size_t digits = (size_t)(auth_end - port);
		unsigned long v = 0;

		if (*host_end != ':')
			return "has an invalid host";
		if (digits == 0 || digits > 5 ||
		    strspn(port, "0123456789") < digits)
			return "has an invalid port";
		for (size_t i = 0; i < digits; i++)
			v = v * 10 + (unsigned long)(port[i] - '0');
		if (v == 0 || v > 65535)
			return "has an invalid port";
	}
	rest = auth_end;
	if (strchr(rest, '#'))
		return "must not contain a fragment (#...)";
	if ((flags & URL_NO_QUERY) && strchr(rest, '?'))
		return "must not contain a query (?...)";
	if (!https && !loopback)
		return "http:// is allowed only on loopback hosts (127.0.0.0/8, "
		       "[::1], localhost); use https://";
	return NULL;
}

/* get_url - get and check a URL; TRIM drops trailing slashes */
static enum got get_url(struct loader *ld, GKeyFile *kf, const char *group,
			const char *key, unsigned flags, bool trim, char **out)
{
	enum got g = get(ld, kf, group, key, 0, out);
	const char *why;

	if (g != PRESENT)
		return g;
	why = url_problem(*out, flags);
	if (why) {
		problem(ld, group, key, "%s", why);
		g_clear_pointer(out, g_free);
		return BAD;
	}
	if (trim) {
		/* "https://h/p//" → "https://h/p": never into the authority */
		size_t n = strlen(*out), min = (size_t)(strstr(*out, "://") - *out) + 3;

		min += strcspn(*out + min, "/?#");
		while (n > min && (*out)[n - 1] == '/')
			(*out)[--n] = '\0';
	}
	return PRESENT;
}

/*
 * mo_config_shared - see config.h. Thousands of accounts of one hosting
 * relay have the same client ID, tenant, scopes and endpoints: one copy
 * each, not thousands. The set lives as long as the process (reloads add
 * only values never seen before; none is secret). Not GLib's interned
 * strings: GLib drops, without freeing, its old quark table each time it
 * grows, which leak checkers rightly report.
 */
const char *mo_config_shared(const char *s)
{
	G_LOCK_DEFINE_STATIC(shared_lock);
	static GHashTable *set;
	char *one;

	if (!s)
		return NULL;
	G_LOCK(shared_lock);
	if (!set)
		set = g_hash_table_new(g_str_hash, g_str_equal);
	one = g_hash_table_lookup(set, s);
	if (!one) {
		one = g_strdup(s);
		g_hash_table_add(set, one);
	}
	G_UNLOCK(shared_lock);
	return one;
}

/* shared - mo_config_shared of S, which is freed */
static const char *shared(char *s)
{
	const char *one = mo_config_shared(s);

	g_free(s);
	return one;
}

/* get_shared_url - get_url, the value shared() */
static enum got get_shared_url(struct loader *ld, GKeyFile *kf,
			       const char *group, const char *key,
			       unsigned flags, bool trim, const char **out)
{
	char *v = NULL;
	enum got g = get_url(ld, kf, group, key, flags, trim, &v);

	*out = shared(v);
	return g;
}

/* ---- allow: user and group names to ids ---- */

/* lookup_id - 0 with *ID, -ENOENT when there is no such name, or -errno */
static int lookup_id(const char *name, bool is_group, unsigned *id)
{
	long hint = sysconf(is_group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 1024;

	for (;;) {
		char *buf = g_malloc(size);
		int r;
		bool found;

		if (is_group) {
			struct group gr, *res = NULL;

			r = getgrnam_r(name, &gr, buf, size, &res);
			found = r == 0 && res;
			if (found)
				*id = (unsigned)gr.gr_gid;
		} else {
			struct passwd pw, *res = NULL;

			r = getpwnam_r(name, &pw, buf, size, &res);
			found = r == 0 && res;
			if (found)
				*id = (unsigned)pw.pw_uid;
		}
		g_free(buf);
		if (found)
			return 0;
		if (r == ERANGE && size < NSS_BUF_MAX) {
			size *= 2;
			continue;
		}
		/* getpwnam_r(3): these all mean "not found" */
		if (r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
			return -ENOENT;
		return -r;
	}
}

static gint cmp_uint(gconstpointer a, gconstpointer b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* sorted_unique - sort ARR of unsigned ids, drop repeats */
static void sorted_unique(GArray *arr)
{
	guint i, j;

	g_array_sort(arr, cmp_uint);
	for (i = j = 0; i < arr->len; i++)
		if (j == 0 || g_array_index(arr, unsigned, j - 1) !=
			      g_array_index(arr, unsigned, i))
			g_array_index(arr, unsigned, j++) = g_array_index(arr, unsigned, i);
	g_array_set_size(arr, j);
}

static void parse_allow(struct loader *ld, const char *group, const char *v,
			struct mo_account_config *a)
{
	char **names = split_list(v);
	GArray *uids = g_array_new(FALSE, FALSE, sizeof(unsigned));
	GArray *gids = g_array_new(FALSE, FALSE, sizeof(unsigned));

	for (char **n = names; *n; n++) {
		bool is_group = (*n)[0] == '@';
		const char *name = is_group ? *n + 1 : *n;
		unsigned id;
		int r;

		if (!*name) {
			problem(ld, group, "allow", "\"@\" needs a group name "
				"after it, as in @mail");
			continue;
		}
		r = lookup_id(name, is_group, &id);
		if (r == -ENOENT) {
			problem_value(ld, group, "allow", is_group ?
				      "no such group" : "no such user", name,
				      is_group ? "" : " (write @NAME for a group)");
		} else if (r < 0) {
			char *why = g_strdup_printf(": %s", g_strerror(-r));

			problem_value(ld, group, "allow", is_group ?
				      "cannot look up group" :
				      "cannot look up user", name, why);
			g_free(why);
		} else {
			g_array_append_val(is_group ? gids : uids, id);
		}
	}
	g_strfreev(names);

	sorted_unique(uids);
	sorted_unique(gids);
	G_STATIC_ASSERT(sizeof(uid_t) == sizeof(unsigned));
	G_STATIC_ASSERT(sizeof(gid_t) == sizeof(unsigned));
	a->n_allow_uids = uids->len;
	a->allow_uids = uids->len ? (uid_t *)g_memdup2(uids->data,
						       uids->len * sizeof(uid_t)) : NULL;
	a->n_allow_gids = gids->len;
	a->allow_gids = gids->len ? (gid_t *)g_memdup2(gids->data,
						       gids->len * sizeof(gid_t)) : NULL;
	g_array_free(uids, TRUE);
	g_array_free(gids, TRUE);
}

/* ---- unknown keys ---- */

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* edit_distance - Levenshtein, for "did you mean"; short strings only */
static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[KEY_NAME_MAX + 1];

	if (la > KEY_NAME_MAX || lb > KEY_NAME_MAX)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static bool looks_secret(const char *key)
{
	char *lower = g_ascii_strdown(key, -1);
	bool hit = false;

	for (const char *const *w = secret_words; *w && !hit; w++)
		hit = strstr(lower, *w) != NULL;
	g_free(lower);
	return hit;
}

/* check_keys - every key of GROUP must be one of KNOWN */
static void check_keys(struct loader *ld, GKeyFile *kf, const char *group,
		       const char *const *known, const char *account)
{
	char **keys = g_key_file_get_keys(kf, group, NULL, NULL);
	bool is_daemon = known == daemon_keys;

	for (char **k = keys; k && *k; k++) {
		const char *best = NULL;
		unsigned best_d = 3;

		if (in_list(known, *k))
			continue;
		if (looks_secret(*k)) {
			if (account)
				problem(ld, group, *k, "secrets do not belong in "
					"the config file; remove this line and run "
					"\"mailoauth login %s\", which reads the "
					"secret from standard input and keeps it in "
					"the store", account);
			else
				problem(ld, group, *k, "secrets do not belong in "
					"the config file; remove this line (the "
					"store's key comes from store_key_file or a "
					"systemd credential)");
			continue;
		}
		if (in_list(is_daemon ? account_keys : daemon_keys, *k)) {
			problem(ld, group, *k, is_daemon ?
				"belongs in an [account NAME] group, not in [daemon]" :
				"belongs in [daemon], not in an account");
			continue;
		}
		for (const char *const *c = known; *c; c++) {
			unsigned d = edit_distance(*k, *c);

			if (d < best_d) {
				best_d = d;
				best = *c;
			}
		}
		if (best)
			problem(ld, group, *k, "unknown key; did you mean %s?", best);
		else
			problem(ld, group, *k, "unknown key (see mailoauth.conf(5) "
				"for the keys of [%s])",
				is_daemon ? "daemon" : "account NAME");
	}
	g_strfreev(keys);
}

/* ---- environment (user mode) ---- */

static char *home_dir(void)
{
	const char *h = secure_getenv("HOME");
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 1024;
	struct passwd pw, *res = NULL;
	char *buf, *out = NULL;

	if (h && h[0] == '/')
		return g_strdup(h);
	for (;;) {
		int r;

		buf = g_malloc(size);
		r = getpwuid_r(geteuid(), &pw, buf, size, &res);
		if (r == ERANGE && size < NSS_BUF_MAX) {
			g_free(buf);
			size *= 2;
			continue;
		}
		if (r == 0 && res && pw.pw_dir && pw.pw_dir[0] == '/')
			out = g_strdup(pw.pw_dir);
		g_free(buf);
		return out;
	}
}

/* xdg_dir - $VAR when absolute (XDG says ignore relative ones), else ~/REL */
static char *xdg_dir(const char *var, const char *rel)
{
	const char *v = secure_getenv(var);
	char *home, *out;

	if (v && v[0] == '/')
		return g_strdup(v);
	home = home_dir();
	if (!home)
		return NULL;
	out = g_build_filename(home, rel, NULL);
	g_free(home);
	return out;
}

/* user_file - DIR/mailoauth/NAME with DIR from xdg_dir, or NULL */
static char *user_file(const char *var, const char *rel, const char *name)
{
	char *dir = xdg_dir(var, rel), *out;

	if (!dir)
		return NULL;
	out = g_build_filename(dir, "mailoauth", name, NULL);
	g_free(dir);
	return out;
}

char *mo_config_default_path(bool user_mode)
{
	if (!user_mode)
		return g_strdup(SYSTEM_CONFIG);
	return user_file("XDG_CONFIG_HOME", ".config", "mailoauth.conf");
}

/* ---- [daemon] ---- */

static void parse_daemon(struct loader *ld, GKeyFile *kf, struct mo_config *cfg)
{
	const char *grp = "daemon";
	bool have = g_key_file_has_group(kf, grp);
	enum got g;
	char *v;

	if (have)
		check_keys(ld, kf, grp, daemon_keys, NULL);

	g = get(ld, kf, grp, "socket", 0, &v);
	if (g == PRESENT) {
		if (check_socket_path(ld, grp, "socket", v))
			cfg->socket = g_steal_pointer(&v);
	} else if (g == ABSENT) {
		if (!ld->user_mode) {
			cfg->socket = g_strdup(SYSTEM_SOCKET);
		} else {
			const char *rt = secure_getenv("XDG_RUNTIME_DIR");

			if (rt && rt[0] == '/') {
				v = g_build_filename(rt, "mailoauth", "socket", NULL);
				if (check_socket_path(ld, grp, "socket", v))
					cfg->socket = g_steal_pointer(&v);
			} else {
				problem(ld, grp, "socket", "XDG_RUNTIME_DIR is not "
					"set, so user mode has no default socket; "
					"set socket = PATH");
			}
		}
	}
	g_free(v);

	g = get(ld, kf, grp, "extra_sockets", EMPTY_OK | TABS_OK, &v);
	cfg->extra_sockets = split_list(g == PRESENT ? v : "");
	g_free(v);
	for (char **s = cfg->extra_sockets; *s; s++) {
		check_socket_path(ld, grp, "extra_sockets", *s);
		if (cfg->socket && strcmp(*s, cfg->socket) == 0)
			problem(ld, grp, "extra_sockets", "repeats the main "
				"socket's path");
		for (char **t = cfg->extra_sockets; t < s; t++)
			if (strcmp(*s, *t) == 0)
				problem(ld, grp, "extra_sockets", "lists a path "
					"twice");
	}

	cfg->store = ld->user_mode ? MO_STORE_SECRET_SERVICE : MO_STORE_FILE;
	g = get(ld, kf, grp, "store", 0, &v);
	if (g == PRESENT) {
		if (strcmp(v, "file") == 0)
			cfg->store = MO_STORE_FILE;
		else if (strcmp(v, "secret-service") == 0)
			cfg->store = MO_STORE_SECRET_SERVICE;
		else
			problem_value(ld, grp, "store", "unknown store", v,
				      "; use file or secret-service");
	}
	g_free(v);

	for (int i = 0; i < 2; i++) {
		const char *key = i == 0 ? "store_path" : "store_key_file";
		char **dst = i == 0 ? &cfg->store_path : &cfg->store_key_file;

		g = get(ld, kf, grp, key, 0, &v);
		if (g == PRESENT && cfg->store != MO_STORE_FILE) {
			problem(ld, grp, key, "is only used with store = file");
		} else if (g == PRESENT) {
			if (check_abs_path(ld, grp, key, v))
				*dst = g_steal_pointer(&v);
		} else if (g == ABSENT && cfg->store == MO_STORE_FILE) {
			if (!ld->user_mode)
				*dst = g_strdup(i == 0 ? SYSTEM_STORE : SYSTEM_STORE_KEY);
			else if (i == 0)
				*dst = user_file("XDG_DATA_HOME", ".local/share", "store");
			else
				*dst = user_file("XDG_CONFIG_HOME", ".config", "store.key");
			if (!*dst)
				problem(ld, grp, key, "no home directory is known "
					"(HOME is not set); set %s = PATH", key);
		}
		g_free(v);
	}

	cfg->refresh_margin = MO_REFRESH_MARGIN_DEFAULT;
	g = get(ld, kf, grp, "refresh_margin", 0, &v);
	if (g == PRESENT) {
		gint64 n;

		if (g_ascii_string_to_signed(v, 10, MO_REFRESH_MARGIN_MIN,
					     MO_REFRESH_MARGIN_MAX, &n, NULL))
			cfg->refresh_margin = (int)n;
		else
			problem(ld, grp, "refresh_margin", "must be a whole number "
				"of seconds from %d to %d", MO_REFRESH_MARGIN_MIN,
				MO_REFRESH_MARGIN_MAX);
	}
	g_free(v);

	g = get(ld, kf, grp, "notify_command", EMPTY_OK | TABS_OK, &v);
	if (g == PRESENT && *v) {
		char **argv = NULL;

		if (g_shell_parse_argv(v, NULL, &argv, NULL))
			cfg->notify_command = g_steal_pointer(&v);
		else
			problem(ld, grp, "notify_command", "is not a valid "
				"command line (check its quotes)");
		g_strfreev(argv);
	}
	g_free(v);
}

/* ---- [account NAME] ---- */

static void account_free(struct mo_account_config *a)
{
	if (!a)
		return;
	g_free(a->name);
	g_free(a->user);	/* the settings are shared() strings */
	g_free(a->allow_uids);
	g_free(a->allow_gids);
	g_free(a);
}

static bool scope_char(unsigned char c)
{
	/* RFC 6749 3.3: %x21 / %x23-5B / %x5D-7E */
	return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

/* normalise_scopes - one space between scopes; NULL if a scope is invalid */
static char *normalise_scopes(const char *v)
{
	char **parts = split_list(v);	/* the caller refused commas */
	char *out = NULL;

	if (parts[0]) {
		bool ok = true;

		for (char **p = parts; *p && ok; p++)
			for (const char *c = *p; *c && ok; c++)
				ok = scope_char((unsigned char)*c);
		if (ok)
			out = g_strjoinv(" ", parts);
	}
	g_strfreev(parts);
	return out;
}

static bool has_scope(const char *scopes, const char *scope)
{
	size_t n = strlen(scope);

	for (const char *p = scopes; (p = strstr(p, scope)); p += n)
		if ((p == scopes || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
	return false;
}

static bool starts_with_any(const char *s, const char *const *prefixes)
{
	for (; *prefixes; prefixes++)
		if (g_ascii_strncasecmp(s, *prefixes, strlen(*prefixes)) == 0)
			return true;
	return false;
}

static const char *const graph_prefixes[] = {
	"https://graph.microsoft.com/", "https://graph.microsoft.us/",
	"https://dod-graph.microsoft.us/",
	"https://microsoftgraph.chinacloudapi.cn/", NULL,
};

static const char *const outlook_prefixes[] = {
	"https://outlook.office.com/", "https://outlook.office365.com/",
	"https://outlook.office365.us/", "https://outlook-dod.office365.us/",
	"https://partner.outlook.cn/", NULL,
};

static const char *const oidc_scopes[] = {
	"openid", "profile", "email", "offline_access", NULL,
};

/* check_microsoft_scopes - one resource per token; the right shape per flow */
static void check_microsoft_scopes(struct loader *ld, const char *grp,
				   const struct mo_account_config *a)
{
	char **parts = g_strsplit(a->scopes, " ", -1);
	bool graph = false, outlook = false;
	size_t n = g_strv_length(parts);

	for (char **p = parts; *p; p++) {
		if (in_list(oidc_scopes, *p))
			continue;
		if (starts_with_any(*p, graph_prefixes) || !strstr(*p, "://"))
			graph = true;	/* no resource means Graph */
		else if (starts_with_any(*p, outlook_prefixes))
			outlook = true;
	}
	if (graph && outlook)
		problem(ld, grp, "scopes", "mixes Microsoft Graph scopes (those "
			"of https://graph.microsoft.com/ and those without a "
			"resource, such as Mail.Send) with Outlook scopes "
			"(https://outlook.office.com/...), but one token serves "
			"one resource; use two accounts, one for each");
	if (a->flow == MO_FLOW_CLIENT_CREDENTIALS) {
		if (!has_scope(a->scopes, "offline_access") &&
		    (n != 1 || !g_str_has_suffix(parts[0], "/.default") ||
		     !strstr(parts[0], "://")))
			problem(ld, grp, "scopes", "client-credentials takes "
				"exactly one scope of the form RESOURCE/.default, "
				"such as " MS_SCOPES_APP);
	} else if (!has_scope(a->scopes, "offline_access")) {
		problem(ld, grp, "scopes", "lacks offline_access, without which "
			"Microsoft issues no refresh token and the account needs "
			"a new login every hour; add offline_access");
	}
	g_strfreev(parts);
}

static bool google_mail_scope(const char *scopes)
{
	char **parts = g_strsplit(scopes, " ", -1);
	bool hit = false;

	for (char **p = parts; *p && !hit; p++)
		hit = strcmp(*p, "https://mail.google.com/") == 0 ||
		      g_str_has_prefix(*p, "https://www.googleapis.com/auth/gmail.");
	g_strfreev(parts);
	return hit;
}

/* tenant_ok - a GUID, a domain name, or organizations/common/consumers */
static bool tenant_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 253 || t[0] == '.' || t[0] == '-' || t[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isalnum(t[i]) && t[i] != '.' && t[i] != '-')
			return false;
	return !strstr(t, "..");
}

/* not_for - refuse KEY when it is set but means nothing here */
static void not_for(struct loader *ld, GKeyFile *kf, const char *grp,
		    const char *key, const char *why)
{
	if (g_key_file_has_key(kf, grp, key, NULL))
		problem(ld, grp, key, "%s", why);
}

static struct mo_account_config *parse_account(struct loader *ld, GKeyFile *kf,
					       const char *grp, const char *name)
{
	struct mo_account_config *a = g_new0(struct mo_account_config, 1);
	bool provider_ok = false, flow_ok = false, scopes_ok = false;
	bool endpoints_set;
	enum got g;
	char *v;

	a->name = g_strdup(name);
	check_keys(ld, kf, grp, account_keys, name);

	g = get(ld, kf, grp, "provider", 0, &v);
	if (g == ABSENT) {
		problem(ld, grp, "provider", "is required; set it to microsoft, "
			"google or generic");
	} else if (g == PRESENT) {
		for (unsigned i = 0; i < G_N_ELEMENTS(provider_names); i++)
			if (strcmp(v, provider_names[i]) == 0) {
				a->provider = (enum mo_provider)i;
				provider_ok = true;
			}
		if (!provider_ok)
			problem_value(ld, grp, "provider", "unknown provider", v,
				      "; use microsoft, google or generic");
	}
	g_free(v);

	g = get(ld, kf, grp, "flow", 0, &v);
	if (g == PRESENT) {
		for (unsigned i = 0; i < G_N_ELEMENTS(flow_names); i++)
			if (strcmp(v, flow_names[i]) == 0) {
				a->flow = (enum mo_flow)i;
				flow_ok = true;
			}
		if (!flow_ok)
			problem_value(ld, grp, "flow", "unknown flow", v,
				      "; use device, authcode or client-credentials");
	} else if (g == ABSENT && provider_ok) {
		/* device needs no browser on this host; Google refuses it
		 * for Gmail, so Google defaults to authcode */
		a->flow = a->provider == MO_PROVIDER_GOOGLE ? MO_FLOW_AUTHCODE :
							      MO_FLOW_DEVICE;
		flow_ok = true;
	}
	g_free(v);

	g = get(ld, kf, grp, "client_id", 0, &v);
	if (g == ABSENT) {
		problem(ld, grp, "client_id", "is required: the application "
			"(client) ID registered with the identity provider");
	} else if (g == PRESENT) {
		bool ok = strlen(v) <= CLIENT_ID_MAX;

		for (const char *c = v; *c && ok; c++)
			ok = (unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f;
		if (ok)
			a->client_id = shared(g_steal_pointer(&v));
		else
			problem(ld, grp, "client_id", "must be printable ASCII "
				"without spaces, at most %d characters",
				CLIENT_ID_MAX);
	}
	g_free(v);

	g = get(ld, kf, grp, "user", 0, &v);
	if (g == ABSENT) {
		problem(ld, grp, "user", "is required: the mailbox address the "
			"mail program logs in as (its SASL user name)");
	} else if (g == PRESENT) {
		const char *at = strrchr(v, '@');

		if (!mo_arg_valid(v))
			problem(ld, grp, "user", "must be printable ASCII without "
				"spaces, at most %d characters", MO_ARG_MAX);
		else if (provider_ok && a->provider != MO_PROVIDER_GENERIC &&
			 (!at || at == v || !at[1]))
			problem(ld, grp, "user", "must be a mailbox address such "
				"as alice@example.com");
		else
			a->user = g_steal_pointer(&v);
	}
	g_free(v);

	g = get(ld, kf, grp, "scopes", TABS_OK, &v);
	if (g == PRESENT && strchr(v, ',')) {
		problem(ld, grp, "scopes", "are separated by spaces, not commas");
	} else if (g == PRESENT) {
		a->scopes = shared(normalise_scopes(v));
		if (a->scopes)
			scopes_ok = true;
		else
			problem(ld, grp, "scopes", "must be scopes separated by "
				"spaces, each printable ASCII other than \" and \\");
	} else if (g == ABSENT && provider_ok && flow_ok) {
		switch (a->provider) {
		case MO_PROVIDER_MICROSOFT:
			a->scopes = a->flow == MO_FLOW_CLIENT_CREDENTIALS ?
				    MS_SCOPES_APP : MS_SCOPES_DELEGATED;
			scopes_ok = true;
			break;
		case MO_PROVIDER_GOOGLE:
			a->scopes = GOOGLE_SCOPES;
			scopes_ok = true;
			break;
		case MO_PROVIDER_GENERIC:
			problem(ld, grp, "scopes", "is required for provider "
				"generic: the scopes, separated by spaces, as "
				"the provider documents them");
			break;
		}
	}
	g_free(v);

	/* microsoft: tenant and authority build the endpoints */
	g = get(ld, kf, grp, "tenant", 0, &v);
	if (g == PRESENT && provider_ok && a->provider != MO_PROVIDER_MICROSOFT) {
		problem(ld, grp, "tenant", "is only used with provider microsoft");
	} else if (g == PRESENT) {
		if (tenant_ok(v))
			a->tenant = shared(g_steal_pointer(&v));
		else
			problem(ld, grp, "tenant", "must be a tenant ID, a domain "
				"name, organizations, common or consumers");
	} else if (g == ABSENT && provider_ok &&
		   a->provider == MO_PROVIDER_MICROSOFT) {
		problem(ld, grp, "tenant", "is required for provider microsoft: "
			"the directory (tenant) ID or a domain of the tenant, or "
			"organizations");
	}
	g_free(v);

	if (provider_ok && a->provider != MO_PROVIDER_MICROSOFT) {
		not_for(ld, kf, grp, "authority",
			"is only used with provider microsoft");
		not_for(ld, kf, grp, "graph_url",
			"is only used with provider microsoft");
	} else {
		g = get_shared_url(ld, kf, grp, "authority", URL_NO_QUERY, true,
			    &a->authority);
		if (g == ABSENT && provider_ok)
			a->authority = MS_AUTHORITY;
		g = get_shared_url(ld, kf, grp, "graph_url", URL_NO_QUERY, true,
			    &a->graph_url);
		if (g == ABSENT && provider_ok)
			a->graph_url = MS_GRAPH;
	}

	endpoints_set = g_key_file_has_key(kf, grp, "token_endpoint", NULL) ||
			g_key_file_has_key(kf, grp, "device_authorization_endpoint", NULL) ||
			g_key_file_has_key(kf, grp, "authorization_endpoint", NULL) ||
			g_key_file_has_key(kf, grp, "revocation_endpoint", NULL);
	if (provider_ok && a->provider == MO_PROVIDER_MICROSOFT) {
		static const char *const eps[] = {
			"token_endpoint", "device_authorization_endpoint",
			"authorization_endpoint", "revocation_endpoint", NULL,
		};

		for (const char *const *k = eps; *k; k++)
			not_for(ld, kf, grp, *k, "provider microsoft builds its "
				"endpoints from authority and tenant; remove this "
				"line (or use provider generic)");
	} else {
		get_shared_url(ld, kf, grp, "token_endpoint", 0, false, &a->token_endpoint);
		get_shared_url(ld, kf, grp, "device_authorization_endpoint", 0, false,
			&a->device_authorization_endpoint);
		get_shared_url(ld, kf, grp, "authorization_endpoint", 0, false,
			&a->authorization_endpoint);
		get_shared_url(ld, kf, grp, "revocation_endpoint", 0, false,
			&a->revocation_endpoint);
	}

	if (provider_ok && a->provider != MO_PROVIDER_GENERIC) {
		not_for(ld, kf, grp, "issuer", "is only used with provider generic");
	} else {
		g = get_shared_url(ld, kf, grp, "issuer", URL_NO_QUERY, false, &a->issuer);
		if (g != ABSENT && endpoints_set)
			problem(ld, grp, "issuer", "give either issuer (for "
				"discovery) or the endpoints, not both");
		if (g == PRESENT && !endpoints_set)
			a->needs_discovery = true;
	}

	g = get(ld, kf, grp, "ca_file", 0, &v);
	if (g == PRESENT && check_abs_path(ld, grp, "ca_file", v))
		a->ca_file = shared(g_steal_pointer(&v));
	g_free(v);

	g = get(ld, kf, grp, "client_certificate", 0, &v);
	if (g == PRESENT && flow_ok && a->flow != MO_FLOW_CLIENT_CREDENTIALS)
		problem(ld, grp, "client_certificate", "is only used with flow "
			"client-credentials");
	else if (g == PRESENT && check_abs_path(ld, grp, "client_certificate", v))
		a->client_certificate = shared(g_steal_pointer(&v));
	g_free(v);

	g = get(ld, kf, grp, "allow", EMPTY_OK | TABS_OK, &v);
	if (g == PRESENT)
		parse_allow(ld, grp, v, a);
	g_free(v);

	if (!provider_ok)
		return a;

	/* presets: every endpoint URL resolved now */
	if (a->provider == MO_PROVIDER_MICROSOFT && a->tenant && a->authority) {
		char *base = g_strdup_printf("%s/%s/oauth2/v2.0/", a->authority,
					     a->tenant);

		a->token_endpoint = shared(g_strconcat(base, "token", NULL));
		a->device_authorization_endpoint = shared(g_strconcat(base, "devicecode", NULL));
		a->authorization_endpoint = shared(g_strconcat(base, "authorize", NULL));
		g_free(base);
	} else if (a->provider == MO_PROVIDER_GOOGLE) {
		/* explicit endpoints override the preset (tests, proxies) */
		if (!g_key_file_has_key(kf, grp, "token_endpoint", NULL))
			a->token_endpoint = GOOGLE_TOKEN;
		if (!g_key_file_has_key(kf, grp, "device_authorization_endpoint", NULL))
			a->device_authorization_endpoint = GOOGLE_DEVICE;
		if (!g_key_file_has_key(kf, grp, "authorization_endpoint", NULL))
			a->authorization_endpoint = GOOGLE_AUTHORIZE;
		if (!g_key_file_has_key(kf, grp, "revocation_endpoint", NULL))
			a->revocation_endpoint = GOOGLE_REVOKE;
	} else if (a->provider == MO_PROVIDER_GENERIC &&
		   !g_key_file_has_key(kf, grp, "issuer", NULL)) {
		if (!g_key_file_has_key(kf, grp, "token_endpoint", NULL))
			problem(ld, grp, "token_endpoint", "is required for "
				"provider generic (or set issuer to use discovery)");
		if (flow_ok && a->flow == MO_FLOW_DEVICE &&
		    !g_key_file_has_key(kf, grp, "device_authorization_endpoint", NULL))
			problem(ld, grp, "device_authorization_endpoint", "is "
				"required for flow device (or set issuer to use "
				"discovery, or choose another flow)");
		if (flow_ok && a->flow == MO_FLOW_AUTHCODE &&
		    !g_key_file_has_key(kf, grp, "authorization_endpoint", NULL))
			problem(ld, grp, "authorization_endpoint", "is required "
				"for flow authcode (or set issuer to use discovery, "
				"or choose another flow)");
	}

	/* combinations that cannot work */
	if (!flow_ok)
		return a;
	if (a->provider == MO_PROVIDER_GOOGLE &&
	    a->flow == MO_FLOW_CLIENT_CREDENTIALS) {
		problem(ld, grp, "flow", "Google has no client-credentials grant "
			"for mail; use flow authcode");
		return a;
	}
	if (a->provider == MO_PROVIDER_GOOGLE && a->flow == MO_FLOW_DEVICE &&
	    scopes_ok && google_mail_scope(a->scopes))
		problem(ld, grp, "flow", "Google's device flow refuses the Gmail "
			"scopes (https://mail.google.com/); use flow authcode");
	if (a->flow == MO_FLOW_CLIENT_CREDENTIALS && scopes_ok &&
	    has_scope(a->scopes, "offline_access"))
		problem(ld, grp, "scopes", "offline_access means nothing for "
			"client-credentials, which has no refresh token; remove it");
	if (a->provider == MO_PROVIDER_MICROSOFT && scopes_ok)
		check_microsoft_scopes(ld, grp, a);
	if (a->provider == MO_PROVIDER_MICROSOFT &&
	    a->flow == MO_FLOW_CLIENT_CREDENTIALS && a->tenant &&
	    (g_ascii_strcasecmp(a->tenant, "common") == 0 ||
	     g_ascii_strcasecmp(a->tenant, "organizations") == 0 ||
	     g_ascii_strcasecmp(a->tenant, "consumers") == 0))
		problem(ld, grp, "tenant", "client-credentials needs the tenant "
			"itself (its ID or one of its domains), not %s",
			a->tenant);
	return a;
}

/* ---- loading ---- */

void mo_config_free(struct mo_config *cfg)
{
	if (!cfg)
		return;
	g_free(cfg->path);
	g_free(cfg->socket);
	g_strfreev(cfg->extra_sockets);
	g_free(cfg->store_path);
	g_free(cfg->store_key_file);
	g_free(cfg->notify_command);
	for (size_t i = 0; i < cfg->n_accounts; i++)
		account_free(cfg->accounts[i]);
	g_free(cfg->accounts);
	g_free(cfg);
}

static struct mo_config *load(struct loader *ld, const char *data, size_t len)
{
	struct mo_config *cfg = g_new0(struct mo_config, 1);
	GKeyFile *kf = g_key_file_new();
	GPtrArray *accounts = g_ptr_array_new();
	char **groups = NULL, *copy = NULL;

	cfg->path = g_strdup(ld->file);
	cfg->user_mode = ld->user_mode;

	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;	/* a UTF-8 byte order mark from some editor */
		len -= 3;
	}
	if (len > MO_CONFIG_MAX_SIZE) {
		problem(ld, NULL, NULL, "is larger than %d bytes",
			MO_CONFIG_MAX_SIZE);
		goto out;
	}
	if (!scan_syntax(ld, data, len))
		goto out;
	if (len > 0 && data[len - 1] != '\n') {
		/* GKeyFile keeps a CR on a last line without LF; we do not */
		copy = g_malloc(len + 1);
		memcpy(copy, data, len);
		copy[len++] = '\n';
		data = copy;
	}
	if (len > 0 && !g_key_file_load_from_data(kf, data, len,
						  G_KEY_FILE_NONE, NULL)) {
		/* the scanner is meant to refuse all GKeyFile refuses */
		problem(ld, NULL, NULL, "GLib's key-file parser refused the "
			"file after mailoauth's syntax check passed; please "
			"report this bug");
		goto out;
	}

	/* in file order, so the messages are too */
	groups = g_key_file_get_groups(kf, NULL);
	for (char **g = groups; *g; g++) {
		if (strcmp(*g, "daemon") == 0) {
			parse_daemon(ld, kf, cfg);
			continue;
		}
		if (g_str_has_prefix(*g, "account ")) {
			const char *name = *g + strlen("account ");

			if (!mo_account_name_valid(name))
				problem(ld, *g, NULL, "not a valid account name: "
					"1 to %d letters, digits and . _ @ + -, "
					"starting with a letter or digit",
					MO_ACCOUNT_MAX);
			else
				g_ptr_array_add(accounts,
						parse_account(ld, kf, *g, name));
		} else if (strcmp(*g, "account") == 0) {
			problem(ld, *g, NULL, "an account group needs a name, "
				"as in [account work]");
		} else {
			problem(ld, *g, NULL, "unknown group; the groups are "
				"[daemon] and [account NAME]");
		}
	}
	if (!g_key_file_has_group(kf, "daemon"))
		parse_daemon(ld, kf, cfg);	/* all defaults */

out:
	cfg->n_accounts = accounts->len;
	cfg->accounts = (struct mo_account_config **)g_ptr_array_free(accounts,
								       FALSE);
	g_strfreev(groups);
	g_key_file_free(kf);
	g_free(copy);
	if (!cfg->extra_sockets)
		cfg->extra_sockets = g_new0(char *, 1);
	if (ld->n_problems) {
		mo_config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void finish_error(struct loader *ld, GError **error)
{
	if (ld->n_problems > MAX_PROBLEMS)
		g_string_append_printf(ld->msgs, "\n%s: ... and %u more problems",
				       ld->file, ld->n_problems - MAX_PROBLEMS);
	g_set_error_literal(error, MO_CONFIG_ERROR, MO_CONFIG_ERROR_INVALID,
			    ld->msgs->str);
}

struct mo_config *mo_config_load_data(const char *data, size_t len,
				      const char *name_for_messages,
				      bool user_mode, GError **error)
{
	struct loader ld = {
		.file = name_for_messages ? name_for_messages : "(config)",
		.user_mode = user_mode,
		.msgs = g_string_new(NULL),
	};
	struct mo_config *cfg;

	if (!data)
		len = 0;
	cfg = load(&ld, data ? data : "", len);
	if (!cfg)
		finish_error(&ld, error);
	g_string_free(ld.msgs, TRUE);
	return cfg;
}

/* read_file - the file's bytes after owner, mode, type and size checks */
static char *read_file(const char *path, size_t *len, GError **error)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0, size;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
			    "%s: cannot open: %s", path, g_strerror(e));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
			    "%s: cannot stat: %s", path, g_strerror(e));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		g_set_error(error, MO_CONFIG_ERROR, MO_CONFIG_ERROR_INVALID,
			    "%s: is not a regular file", path);
		goto fail;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		g_set_error(error, MO_CONFIG_ERROR, MO_CONFIG_ERROR_UNSAFE,
			    "%s: belongs to uid %u, not to root or to the "
			    "daemon's user; it says who may fetch tokens, so "
			    "only they may own it (chown root %s)", path,
			    (unsigned)st.st_uid, path);
		goto fail;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		g_set_error(error, MO_CONFIG_ERROR, MO_CONFIG_ERROR_UNSAFE,
			    "%s: is writable by group or others (mode %04o); "
			    "it says who may fetch tokens, so only its owner may "
			    "write it (chmod go-w %s)", path,
			    (unsigned)(st.st_mode & 07777), path);
		goto fail;
	}
	if (st.st_size > MO_CONFIG_MAX_SIZE) {
		g_set_error(error, MO_CONFIG_ERROR, MO_CONFIG_ERROR_INVALID,
			    "%s: is larger than %d bytes", path, MO_CONFIG_MAX_SIZE);
		goto fail;
	}
	/* sized by fstat, grown if the file grows meanwhile, never past the cap */
	size = (size_t)st.st_size + 1;
	buf = g_malloc(size);
	for (;;) {
		ssize_t r;

		if (n == size) {
			size = MIN(size * 2, (size_t)MO_CONFIG_MAX_SIZE + 1);
			buf = g_realloc(buf, size);
		}
		r = read(fd, buf + n, size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			g_set_error(error, G_FILE_ERROR,
				    g_file_error_from_errno(e),
				    "%s: cannot read: %s", path, g_strerror(e));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > MO_CONFIG_MAX_SIZE) {
			g_set_error(error, MO_CONFIG_ERROR,
				    MO_CONFIG_ERROR_INVALID,
				    "%s: is larger than %d bytes", path,
				    MO_CONFIG_MAX_SIZE);
			goto fail;
		}
	}
	close(fd);
	*len = n;
	return buf;
fail:
	g_free(buf);
	close(fd);
	return NULL;
}

struct mo_config *mo_config_load(const char *path, bool user_mode,
				 GError **error)
{
	char *def = NULL, *data;
	struct mo_config *cfg;
	size_t len;

	if (!path) {
		def = mo_config_default_path(user_mode);
		if (!def) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
				    "no home directory is known (HOME is not "
				    "set), so there is no default config file; "
				    "use --config FILE");
			return NULL;
		}
		path = def;
	}
	data = read_file(path, &len, error);
	cfg = data ? mo_config_load_data(data, len, path, user_mode, error) : NULL;
	g_free(data);
	g_free(def);
	return cfg;
}

/* ---- queries ---- */

const struct mo_account_config *mo_config_find(const struct mo_config *cfg,
					       const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_accounts; i++)
		if (strcmp(cfg->accounts[i]->name, name) == 0)
			return cfg->accounts[i];
	return NULL;
}

/* same_user - local parts exactly, domains without regard to case */
static bool same_user(const char *a, const char *b)
{
	const char *at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');

	if (!at_a || !at_b)
		return strcmp(a, b) == 0;
	return at_a - a == at_b - b && memcmp(a, b, (size_t)(at_a - a)) == 0 &&
	       g_ascii_strcasecmp(at_a, at_b) == 0;
}

const struct mo_account_config *mo_config_find_user(const struct mo_config *cfg,
						    const char *user)
{
	if (!cfg || !user)
		return NULL;
	for (size_t i = 0; i < cfg->n_accounts; i++)
		if (cfg->accounts[i]->user && same_user(cfg->accounts[i]->user, user))
			return cfg->accounts[i];
	return NULL;
}

bool mo_account_config_equal(const struct mo_account_config *a,
			     const struct mo_account_config *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	return a->provider == b->provider && a->flow == b->flow &&
	       a->needs_discovery == b->needs_discovery &&
	       g_strcmp0(a->name, b->name) == 0 &&
	       g_strcmp0(a->client_id, b->client_id) == 0 &&
	       g_strcmp0(a->user, b->user) == 0 &&
	       g_strcmp0(a->scopes, b->scopes) == 0 &&
	       g_strcmp0(a->tenant, b->tenant) == 0 &&
	       g_strcmp0(a->authority, b->authority) == 0 &&
	       g_strcmp0(a->token_endpoint, b->token_endpoint) == 0 &&
	       g_strcmp0(a->device_authorization_endpoint,
			 b->device_authorization_endpoint) == 0 &&
	       g_strcmp0(a->authorization_endpoint, b->authorization_endpoint) == 0 &&
	       g_strcmp0(a->revocation_endpoint, b->revocation_endpoint) == 0 &&
	       g_strcmp0(a->issuer, b->issuer) == 0 &&
	       g_strcmp0(a->client_certificate, b->client_certificate) == 0;
}

bool mo_account_allows(const struct mo_account_config *a, uid_t uid,
		       const gid_t *gids, size_t n_gids)
{
	if (uid == 0 || uid == geteuid())
		return true;
	if (!a)
		return false;
	for (size_t i = 0; i < a->n_allow_uids; i++)
		if (a->allow_uids[i] == uid)
			return true;
	for (size_t j = 0; gids && j < n_gids; j++)
		for (size_t i = 0; i < a->n_allow_gids; i++)
			if (a->allow_gids[i] == gids[j])
				return true;
	return false;
}
