/* SPDX-License-Identifier: MIT */
/*
 * fake-nss.h - the user and group databases of the config fuzz targets
 *
 * Included by fuzz-config.c and fuzz-front-config.c, which define these
 * in the program itself, where they take the place of glibc's: the config
 * reader resolves every "allow" name, and glibc would read /etc/passwd and
 * /etc/group for each one, in every execution. A fixed table instead makes
 * the targets ten times faster and the same on every machine.
 */
#ifndef MAILOAUTH_FAKE_NSS_H
#define MAILOAUTH_FAKE_NSS_H

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>

struct fake_id {
	const char *name;
	unsigned id;
};

static const struct fake_id fake_users[] = {
	{"root", 0}, {"mail", 8}, {"postfix", 101}, {"alice", 1000},
};
static const struct fake_id fake_groups[] = {
	{"root", 0}, {"mail", 8}, {"postfix", 102}, {"postdrop", 103},
	{"alice", 1000},
};

/* fake_find - the entry NAME (or, NAME NULL, the id ID) of TABLE */
static const struct fake_id *fake_find(const struct fake_id *table, size_t n,
				       const char *name, unsigned id)
{
	for (size_t i = 0; i < n; i++)
		if (name ? strcmp(table[i].name, name) == 0 : table[i].id == id)
			return &table[i];
	return NULL;
}

/* fake_copy - NAME into BUF, as glibc keeps the strings of an entry */
static int fake_copy(const char *name, char *buf, size_t size, char **out)
{
	size_t n = strlen(name) + 1;

	if (n > size)
		return ERANGE;
	memcpy(buf, name, n);
	*out = buf;
	return 0;
}

static int fake_pw(const struct fake_id *f, struct passwd *pw, char *buf,
		   size_t size, struct passwd **res)
{
	*res = NULL;
	if (!f)
		return 0;
	if (fake_copy(f->name, buf, size, &pw->pw_name))
		return ERANGE;
	pw->pw_passwd = (char *)"x";
	pw->pw_uid = f->id;
	pw->pw_gid = f->id;
	pw->pw_gecos = (char *)"";
	pw->pw_dir = (char *)"/home/fuzz";
	pw->pw_shell = (char *)"/bin/sh";
	*res = pw;
	return 0;
}

int getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t size,
	       struct passwd **res)
{
	return fake_pw(fake_find(fake_users, sizeof(fake_users) / sizeof(*fake_users),
				 name, 0), pw, buf, size, res);
}

int getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t size,
	       struct passwd **res)
{
	return fake_pw(fake_find(fake_users, sizeof(fake_users) / sizeof(*fake_users),
				 NULL, uid), pw, buf, size, res);
}

int getgrnam_r(const char *name, struct group *gr, char *buf, size_t size,
	       struct group **res)
{
	static char *no_members[] = {NULL};
	const struct fake_id *f = fake_find(fake_groups,
					    sizeof(fake_groups) / sizeof(*fake_groups),
					    name, 0);

	*res = NULL;
	if (!f)
		return 0;
	if (fake_copy(f->name, buf, size, &gr->gr_name))
		return ERANGE;
	gr->gr_passwd = (char *)"x";
	gr->gr_gid = f->id;
	gr->gr_mem = no_members;
	*res = gr;
	return 0;
}

#endif
