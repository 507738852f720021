/* SPDX-License-Identifier: MIT */
/*
 * diagnose.h - what a failed `mailoauth test` means, in plain words
 *
 * A pure table: given the protocol, the step that failed and what the
 * server said (reply code, enhanced status code, text, the decoded OAuth
 * error challenge) or how the connection failed, it gives one sentence on
 * what happened, one on what to do, and the exit status. No I/O, no
 * allocation; the sentences go into the caller's struct.
 *
 * SECURITY
 *	The inputs are the server's words (already made printable by
 *	mailreply.c) and names from the command line; never a token. Every
 *	sentence is cut to fit its buffer.
 *
 * DIAGNOSTICS
 *	None: the caller prints the result.
 */
#ifndef MAILOAUTH_DIAGNOSE_H
#define MAILOAUTH_DIAGNOSE_H

#include "proto.h"
#include "saslmsg.h"

#include <stdbool.h>

enum mo_diag_proto { MO_DIAG_SMTP, MO_DIAG_IMAP };

/* the step of the dialogue that failed */
enum mo_diag_step {
	MO_STEP_CONNECT,
	MO_STEP_TLS,		/* implicit TLS or the handshake after STARTTLS */
	MO_STEP_GREETING,
	MO_STEP_EHLO,		/* SMTP EHLO, IMAP CAPABILITY */
	MO_STEP_STARTTLS,	/* the STARTTLS command itself */
	MO_STEP_AUTH,
	MO_STEP_MAIL_FROM,
	MO_STEP_RCPT,
	MO_STEP_DATA,		/* DATA and the end of the message */
	MO_STEP_EXAMINE,
	MO_STEP_COUNT_
};

/* how it failed */
enum mo_diag_fail {
	MO_FAIL_REPLY,		/* the server answered no: see code, text... */
	MO_FAIL_UNKNOWN_HOST,	/* the name does not exist */
	MO_FAIL_RESOLVE,	/* the name could not be looked up now */
	MO_FAIL_REFUSED,	/* connection refused */
	MO_FAIL_TIMEOUT,	/* no connection or no answer in time */
	MO_FAIL_UNREACHABLE,	/* no route to the host or network */
	MO_FAIL_NETWORK,	/* another socket error (detail says which) */
	MO_FAIL_CLOSED,		/* the server closed the connection */
	MO_FAIL_PLAIN_REFUSED,	/* --plain to an address that is not loopback */
	MO_FAIL_CA_FILE,	/* --ca-file could not be loaded */
	MO_FAIL_TLS_UNTRUSTED,	/* certificate chain not trusted */
	MO_FAIL_TLS_HOSTNAME,	/* certificate not for this host name */
	MO_FAIL_TLS_EXPIRED,	/* certificate expired or not yet valid */
	MO_FAIL_TLS_VERSION,	/* no common protocol version (< TLS 1.2) */
	MO_FAIL_TLS_NOT_TLS,	/* the server does not speak TLS on this port */
	MO_FAIL_TLS_HANDSHAKE,	/* another handshake failure */
	MO_FAIL_NO_STARTTLS,	/* STARTTLS wanted but not offered */
	MO_FAIL_NO_AUTH,	/* no AUTH / no AUTH= capability at all */
	MO_FAIL_NO_MECH,	/* AUTH offered, but neither XOAUTH2 nor OAUTHBEARER */
	MO_FAIL_INJECTION,	/* data sent after STARTTLS's answer, before TLS */
	MO_FAIL_GARBAGE,	/* malformed, oversized or unexpected answer */
	MO_FAIL_COUNT_
};

/* What went wrong. Every pointer may be NULL. */
struct mo_diag_input {
	enum mo_diag_proto proto;
	enum mo_diag_step step;
	enum mo_diag_fail fail;
	int code;			/* SMTP reply code, 0 if none */
	const char *enhanced;		/* SMTP enhanced status code "5.7.139" */
	const char *imap_status;	/* IMAP: "NO", "BAD", "BYE" */
	const char *resp_code;		/* IMAP response code "AUTHENTICATIONFAILED" */
	const char *text;		/* the server's text */
	const struct mo_challenge *challenge;	/* decoded error challenge */
	const char *mech;		/* the mechanism used or wanted */
	const char *offered;		/* the mechanisms the server offered */
	bool tls;			/* the connection was encrypted */
	const char *detail;		/* a system or TLS error text */
	const char *host;		/* names for the sentences */
	int port;
	const char *user;
	const char *from;
	const char *account;
};

#define MO_DIAG_WHAT_MAX 512
#define MO_DIAG_TODO_MAX 1024

struct mo_diagnosis {
	char what[MO_DIAG_WHAT_MAX];	/* what happened */
	char todo[MO_DIAG_TODO_MAX];	/* what to do */
	int exit_status;		/* MO_EXIT_* of cli.h */
};

/* mo_diagnose - fill OUT for the failure IN */
void mo_diagnose(const struct mo_diag_input *in, struct mo_diagnosis *out);

/*
 * mo_diagnose_daemon - mailoauthd answered ERR (code ERR, sentence TEXT)
 * to TOKEN ACCOUNT; the exit status is mo_cli_exit_for_err's. An AADSTS
 * code in TEXT adds a pointer to Microsoft's page for it.
 */
void mo_diagnose_daemon(enum mo_err err, const char *text,
			const char *account, struct mo_diagnosis *out);

/* mo_diag_step_name - "AUTH", "MAIL FROM", ... for messages */
const char *mo_diag_step_name(enum mo_diag_proto proto, enum mo_diag_step step);

#endif
