/* SPDX-License-Identifier: MIT */
/*
 * mailtest.h - a real SMTP or IMAP login with a token, step by step
 *
 * The dialogues behind `mailoauth test`: connect, TLS (implicit or
 * STARTTLS), EHLO or CAPABILITY, AUTH / AUTHENTICATE with XOAUTH2 or
 * OAUTHBEARER (answering the server's error challenge as the mechanism
 * requires), then one command that needs the login: SMTP MAIL FROM (and
 * with a recipient a short test message), IMAP EXAMINE INBOX. Each step
 * prints one line on OUT; with VERBOSE the dialogue too, with the
 * initial response left out. On failure the result says what the server
 * said at which step, for diagnose.h.
 *
 * SECURITY
 *	The token goes only into the AUTH line, over TLS unless the caller
 *	allowed a plain loopback connection; every buffer that held it is
 *	wiped. The transcript never shows the AUTH line's argument, and a
 *	server line that repeats the token is not shown either.
 *
 * DIAGNOSTICS
 *	Step lines and the transcript on OUT; nothing on stderr. The caller
 *	prints the verdict (OK / FAILED) from the result.
 */
#ifndef MAILOAUTH_MAILTEST_H
#define MAILOAUTH_MAILTEST_H

#include "diagnose.h"
#include "mailreply.h"
#include "saslmsg.h"

#include <stdbool.h>
#include <stdio.h>

enum mo_mailtest_tls {
	MO_MAILTEST_STARTTLS,
	MO_MAILTEST_TLS,	/* implicit TLS */
	MO_MAILTEST_PLAIN,	/* no TLS: loopback addresses only */
};

struct mo_mailtest_opts {
	enum mo_diag_proto proto;
	const char *host;
	int port;
	enum mo_mailtest_tls tls;
	const char *mech;	/* "XOAUTH2", "OAUTHBEARER", or NULL: choose */
	const char *account;	/* for the diagnosis */
	const char *user;	/* the SASL identity: the account's mailbox */
	const char *token;	/* the access token */
	const char *from;	/* SMTP MAIL FROM (default: user) */
	const char *send_to;	/* SMTP: send a test message there */
	const char *ca_file;	/* instead of the system's CAs */
	const char *helo;	/* the EHLO name */
	int timeout_ms;		/* each connection attempt and each reply */
	bool verbose;
	FILE *out;
};

struct mo_mailtest_result {
	struct mo_diag_input diag;	/* on failure; points into this struct */
	char mech[16];			/* the mechanism used */
	long messages;			/* IMAP: messages in INBOX, -1 unknown */
	char text[MO_REPLY_TEXT_MAX];
	char enhanced[16];
	char imap_status[8];
	char resp_code[32];
	char offered[MO_MECHS_MAX];
	char detail[256];
	struct mo_challenge challenge;
};

/*
 * mo_mailtest_run - the whole dialogue; 0 when every step succeeded,
 * -1 when one failed (RES->diag says how)
 */
int mo_mailtest_run(const struct mo_mailtest_opts *o,
		    struct mo_mailtest_result *res);

#endif
