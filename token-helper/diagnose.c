/* SPDX-License-Identifier: MIT */
/*
 * diagnose.c - the table behind `mailoauth test`'s FAILED lines
 *
 * Two tables: one for failures of the connection itself (by kind), one
 * for the server's refusals, matched in order: the exact words Microsoft
 * 365 and Google send first, then the OAuth error challenge, then the
 * generic meaning of the reply code at that step. Sentences are
 * templates: {host} {port} {user} {from} {account} {mech} {offered}
 * {code} (e.g. "535 5.7.3" or "NO [AUTHENTICATIONFAILED]") {text} (the
 * server's first line) {detail} {step}.
 *
 * Exit statuses (cli.h): 77 NOPERM the server refused the token or the
 * sender; 78 CONFIG the tenant, mailbox, server or local set-up must
 * change; 75 TEMPFAIL network trouble and 4xx; 76 PROTOCOL the server
 * answered nonsense or the TLS handshake failed; 1 FAIL another refusal
 * (a recipient, the message, INBOX); 64 USAGE --plain to a remote host;
 * 66 NOINPUT an unreadable --ca-file.
 *
 * SECURITY
 *	See diagnose.h: the inputs hold no secret, outputs are bounded.
 */
#define _GNU_SOURCE
#include "diagnose.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define P_SMTP (1u << MO_DIAG_SMTP)
#define P_IMAP (1u << MO_DIAG_IMAP)
#define P_ANY (P_SMTP | P_IMAP)
#define S(step) (1u << (step))

/* ------------------------------------------------------------ templates */

/* the values the templates may name */
struct vars {
	const struct mo_diag_input *in;
	char code[96];
	char text[256];
	char port[16];
};

static const char *var(const struct vars *v, const char *name, size_t n)
{
	const struct mo_diag_input *in = v->in;
	static const char *const none = "";

#define IS(s) (n == sizeof(s) - 1 && !strncmp(name, s, n))
	if (IS("host"))
		return in->host ? in->host : "the server";
	if (IS("port"))
		return v->port;
	if (IS("user"))
		return in->user ? in->user : "the account's user";
	if (IS("from"))
		return in->from ? in->from : in->user ? in->user : "the sender";
	if (IS("account"))
		return in->account ? in->account : "ACCOUNT";
	if (IS("mech"))
		return in->mech ? in->mech : "XOAUTH2";
	if (IS("offered"))
		return in->offered && *in->offered ? in->offered : "nothing";
	if (IS("code"))
		return v->code;
	if (IS("text"))
		return v->text;
	if (IS("detail"))
		return in->detail && *in->detail ? in->detail : "no details";
	if (IS("step"))
		return mo_diag_step_name(in->proto, in->step);
	if (IS("scope"))
		return in->challenge ? in->challenge->scope : none;
#undef IS
	return NULL;
}

/* fill - expand TMPL into OUT (SIZE), cut to fit */
static void fill(char *out, size_t size, const char *tmpl, const struct vars *v)
{
	size_t n = 0;

	for (const char *p = tmpl; *p && n + 1 < size; p++) {
		const char *close, *val;

		if (*p == '{' && (close = strchr(p, '}')) &&
		    (val = var(v, p + 1, (size_t)(close - p - 1)))) {
			size_t l = strlen(val);

			if (l > size - 1 - n)
				l = size - 1 - n;
			memcpy(out + n, val, l);
			n += l;
			p = close;
			continue;
		}
		out[n++] = *p;
	}
	out[n] = '\0';
}

/* ------------------------------------------------------------ connection */

struct fail_rule {
	enum mo_diag_fail fail;
	int exit;
	const char *what, *todo;
};

#define T_VERBOSE "run again with --verbose to see the dialogue"

static const struct fail_rule fail_rules[] = {
	{MO_FAIL_UNKNOWN_HOST, MO_EXIT_TEMPFAIL,
	 "the host name {host} does not exist ({detail})",
	 "check its spelling: Microsoft 365 is smtp.office365.com (SMTP) and "
	 "outlook.office365.com (IMAP), Gmail smtp.gmail.com and imap.gmail.com"},
	{MO_FAIL_RESOLVE, MO_EXIT_TEMPFAIL,
	 "the name {host} could not be looked up ({detail})",
	 "check this machine's DNS resolver (/etc/resolv.conf) and network, "
	 "then try again"},
	{MO_FAIL_REFUSED, MO_EXIT_TEMPFAIL,
	 "{host} refused the connection to port {port}",
	 "check the port (SMTP: 587 with STARTTLS or 465 with TLS; IMAP: 993 "
	 "with TLS or 143 with STARTTLS) and that no firewall rejects it"},
	{MO_FAIL_UNREACHABLE, MO_EXIT_TEMPFAIL,
	 "{host} cannot be reached ({detail})",
	 "check this machine's network and routes (IPv4 and IPv6)"},
	{MO_FAIL_NETWORK, MO_EXIT_TEMPFAIL,
	 "the connection to {host} failed during {step} ({detail})",
	 "try again; if it keeps failing, check the network between here and "
	 "{host}"},
	{MO_FAIL_CLOSED, MO_EXIT_TEMPFAIL,
	 "{host} closed the connection during {step}",
	 "the server may limit connections or refuse this machine's address; "
	 "try again later, and " T_VERBOSE},
	{MO_FAIL_PLAIN_REFUSED, MO_EXIT_USAGE,
	 "--plain would send the token unencrypted to {host}, which is not a "
	 "loopback address",
	 "use --starttls or --tls (the default for the port)"},
	{MO_FAIL_CA_FILE, MO_EXIT_NOINPUT,
	 "the CA file could not be loaded ({detail})",
	 "give --ca-file a readable PEM file with the CA certificate(s)"},
	{MO_FAIL_TLS_UNTRUSTED, MO_EXIT_CONFIG,
	 "the certificate of {host} is not trusted ({detail})",
	 "a server with a private CA needs --ca-file FILE; for a public server "
	 "check that this machine's CA certificates are installed "
	 "(ca-certificates) and that no proxy intercepts TLS"},
	{MO_FAIL_TLS_HOSTNAME, MO_EXIT_CONFIG,
	 "the certificate of the server is not valid for the name {host} "
	 "({detail})",
	 "connect with a name the certificate names (e.g. smtp.office365.com, "
	 "not an IP address or an alias), and use the same name in the mail "
	 "program's configuration"},
	{MO_FAIL_TLS_EXPIRED, MO_EXIT_CONFIG,
	 "the certificate of {host} has expired or is not yet valid ({detail})",
	 "check this machine's clock; if it is right, the server's "
	 "administrator must renew the certificate"},
	{MO_FAIL_TLS_VERSION, MO_EXIT_PROTOCOL,
	 "{host} and mailoauth share no TLS version: TLS 1.2 or newer is "
	 "required ({detail})",
	 "the server must enable TLS 1.2 or 1.3"},
	{MO_FAIL_TLS_NOT_TLS, MO_EXIT_PROTOCOL,
	 "{host} did not answer in TLS on port {port} ({detail})",
	 "this port probably expects STARTTLS: try --starttls (SMTP 587 and "
	 "25 and IMAP 143 use STARTTLS; 465 and 993 use TLS from the start)"},
	{MO_FAIL_TLS_HANDSHAKE, MO_EXIT_PROTOCOL,
	 "the TLS handshake with {host} failed ({detail})",
	 "check that the port speaks TLS and that the server supports TLS 1.2 "
	 "or newer; " T_VERBOSE},
	{MO_FAIL_NO_STARTTLS, MO_EXIT_CONFIG,
	 "{host} does not offer STARTTLS on port {port}",
	 "use the server's TLS port with --tls (SMTP 465, IMAP 993); if the "
	 "server should offer STARTTLS, a firewall or proxy may be stripping it"},
	{MO_FAIL_INJECTION, MO_EXIT_PROTOCOL,
	 "{host} sent more after its STARTTLS answer, before TLS began: "
	 "something on the way may be tampering with the connection "
	 "(STARTTLS command injection)",
	 "do not send mail this way until it is explained: look for a proxy "
	 "or firewall that rewrites the mail protocol, or use the TLS port "
	 "with --tls"},
	{MO_FAIL_GARBAGE, MO_EXIT_PROTOCOL,
	 "{host} answered {step} with something that makes no sense ({detail})",
	 "check the host and the port, and --smtp versus --imap; " T_VERBOSE},
};

/* ------------------------------------------------------------ refusals */

/* a rule matches when every field it sets matches */
struct rule {
	unsigned protos;	/* P_SMTP, P_IMAP */
	unsigned steps;		/* S(step)...; 0: any */
	int code;		/* SMTP: 100..599 exact, 4 or 5 a class; 0 any */
	const char *enhanced;	/* SMTP enhanced status code */
	const char *status;	/* IMAP status word */
	const char *resp_code;	/* IMAP response code */
	const char *text;	/* in the server's text, any case */
	int exit;
	const char *what, *todo;
};

#define T_LOGIN_AGAIN "then run 'mailoauth login {account}'"
#define T_SMTP_AUTH_ON \
	"an Exchange administrator must allow SMTP AUTH: for the tenant in " \
	"the Exchange admin center (Settings > Mail flow: untick 'Turn off " \
	"SMTP AUTH protocol for your organization'), or for this mailbox " \
	"only: Set-CASMailbox -Identity {user} " \
	"-SmtpClientAuthenticationDisabled $false (https://aka.ms/smtp_auth_disabled)"
#define T_TOKEN_CHECK \
	"check that the account's scopes cover mail (Microsoft: " \
	"https://outlook.office.com/SMTP.Send or IMAP.AccessAsUser.All; " \
	"Google: https://mail.google.com/), that {user} is the mailbox that " \
	"signed in at 'mailoauth login', and with 'mailoauth status " \
	"{account}' that the grant is still valid; if anything changed, " \
	T_LOGIN_AGAIN

static const struct rule rules[] = {
	/* ---- Microsoft 365: SMTP AUTH refused by policy (535 5.7.139) */
	{P_SMTP, 0, 0, "5.7.139", NULL, NULL, "disabled for the Tenant",
	 MO_EXIT_CONFIG,
	 "Microsoft 365 has SMTP AUTH turned off for the whole tenant ({code})",
	 T_SMTP_AUTH_ON},
	{P_SMTP, 0, 0, "5.7.139", NULL, NULL, "disabled for the Mailbox",
	 MO_EXIT_CONFIG,
	 "Microsoft 365 has SMTP AUTH turned off for the mailbox {user} ({code})",
	 "an Exchange administrator must turn it on: Microsoft 365 admin "
	 "center > Users > {user} > Mail > Manage email apps > Authenticated "
	 "SMTP, or Set-CASMailbox -Identity {user} "
	 "-SmtpClientAuthenticationDisabled $false"},
	{P_SMTP, 0, 0, "5.7.139", NULL, NULL, "security defaults",
	 MO_EXIT_CONFIG,
	 "Microsoft 365 blocks {user} under the tenant's security defaults, "
	 "which forbid SMTP AUTH ({code})",
	 "an administrator must turn security defaults off in Entra ID (and "
	 "protect sign-ins with Conditional Access instead), or send through "
	 "Microsoft Graph with mailoauth-graph, which needs no SMTP AUTH"},
	{P_SMTP, 0, 0, "5.7.139", NULL, NULL, "did not meet the criteria",
	 MO_EXIT_CONFIG,
	 "Microsoft 365 refused the login by policy: the request did not meet "
	 "the criteria to be authenticated ({code})",
	 "a Conditional Access policy, the security defaults or Authenticated "
	 "SMTP being off for the mailbox blocks it: an administrator should "
	 "read the sign-in log of {user} in Entra ID and check the mailbox's "
	 "Authenticated SMTP setting"},
	{P_SMTP, 0, 0, "5.7.139", NULL, NULL, "basic authentication",
	 MO_EXIT_CONFIG,
	 "Microsoft 365 took the login for Basic authentication, which is "
	 "turned off ({code})",
	 "the login must use XOAUTH2 with a token, not LOGIN or PLAIN with a "
	 "password: make the mail program use mailoauth (Postfix: "
	 "smtp_sasl_mechanism_filter = xoauth2)"},
	{P_SMTP, 0, 0, "5.7.139", NULL, NULL, NULL, MO_EXIT_CONFIG,
	 "Microsoft 365 refused SMTP AUTH for {user} by policy ({code}: {text})",
	 "usually SMTP AUTH is turned off for the tenant or the mailbox, or "
	 "the security defaults block it: see https://aka.ms/smtp_auth_disabled"},

	/* ---- Microsoft 365: Basic auth, HVE, Send As */
	{P_SMTP, 0, 0, "5.7.30", NULL, NULL, NULL, MO_EXIT_CONFIG,
	 "the server took the login for Basic authentication, which it no "
	 "longer accepts for client submission ({code})",
	 "log in with XOAUTH2 and a token (mailoauth), not LOGIN or PLAIN "
	 "with a password: Postfix needs smtp_sasl_mechanism_filter = xoauth2"},
	{P_SMTP, 0, 0, "5.5.127", NULL, NULL, NULL, MO_EXIT_CONFIG,
	 "the token expires too soon for the server: Microsoft's high-volume "
	 "email wants a token with more time left ({code})",
	 "make mailoauthd refresh earlier: raise refresh_margin in the "
	 "[daemon] section of mailoauth.conf (e.g. refresh_margin = 1800), "
	 "reload the daemon (systemctl reload mailoauthd) and test again"},
	{P_SMTP, 0, 0, NULL, NULL, NULL, "SendAsDenied", MO_EXIT_NOPERM,
	 "{user} may not send as {from}: Exchange refused the message "
	 "(SendAsDenied, {code})",
	 "an Exchange administrator must give {user} the Send As right on "
	 "{from} (Add-RecipientPermission -Identity {from} -Trustee {user} "
	 "-AccessRights SendAs; it can take an hour to apply), or send with "
	 "--from {user}"},
	{P_SMTP, 0, 0, "5.7.60", NULL, NULL, NULL, MO_EXIT_NOPERM,
	 "{user} may not send as {from} ({code})",
	 "an Exchange administrator must give {user} the Send As right on "
	 "{from} (Add-RecipientPermission -Identity {from} -Trustee {user} "
	 "-AccessRights SendAs; it can take an hour to apply), or send with "
	 "--from {user}"},
	{P_SMTP, S(MO_STEP_MAIL_FROM) | S(MO_STEP_DATA), 5, NULL, NULL, NULL,
	 "permissions to send as", MO_EXIT_NOPERM,
	 "{user} may not send as {from} ({code})",
	 "the mailbox's administrator must give {user} the Send As right on "
	 "{from}, or send with --from {user}"},
	{P_SMTP, 0, 0, "5.7.3", NULL, NULL, NULL, MO_EXIT_NOPERM,
	 "Microsoft 365 rejected the token of {user} ({code})",
	 "the usual causes: the token lacks the scope "
	 "https://outlook.office.com/SMTP.Send (see scopes in [account "
	 "{account}]); {user} is not the mailbox that signed in (the consent "
	 "was given by another account, e.g. an administrator's); for client "
	 "credentials, the app has no Exchange service principal or no "
	 "permission on the mailbox. Fix it, " T_LOGIN_AGAIN},
	{P_SMTP, 0, 0, "5.1.8", NULL, NULL, NULL, MO_EXIT_NOPERM,
	 "Microsoft 365 blocks {from} from sending: the account is restricted, "
	 "usually after sending spam ({code})",
	 "an administrator must check the account was not compromised and "
	 "release it in the Microsoft Defender portal (Restricted entities)"},

	/* ---- Google */
	{P_SMTP, S(MO_STEP_AUTH), 534, NULL, NULL, NULL, NULL, MO_EXIT_NOPERM,
	 "Google wants a sign-in in a web browser before it accepts this login "
	 "({code}: {text})",
	 "sign in as {user} at https://accounts.google.com, complete any "
	 "security check, " T_LOGIN_AGAIN},

	/* ---- servers that want TLS first */
	{P_SMTP, 0, 530, NULL, NULL, NULL, "STARTTLS", MO_EXIT_CONFIG,
	 "{host} wants STARTTLS before it accepts a login ({code})",
	 "use --starttls (or --tls on a TLS port), not --plain"},
	{P_IMAP, 0, 0, NULL, NULL, "PRIVACYREQUIRED", NULL, MO_EXIT_CONFIG,
	 "{host} wants an encrypted connection before it accepts a login "
	 "({code})",
	 "use --starttls or --tls, not --plain"},

	/* ---- the mechanism itself */
	{P_SMTP, S(MO_STEP_AUTH), 504, NULL, NULL, NULL, NULL, MO_EXIT_CONFIG,
	 "{host} does not accept the mechanism {mech} ({code})",
	 "try the other mechanism with --mech (XOAUTH2 or OAUTHBEARER)"},
	{P_SMTP, S(MO_STEP_AUTH), 500, NULL, NULL, NULL, "too long",
	 MO_EXIT_PROTOCOL,
	 "{host} refused the AUTH command as too long ({code})",
	 "the server cannot take a token this long on one line; report it "
	 "with the output of --verbose"},

	/* ---- IMAP response codes (RFC 5530) */
	{P_IMAP, 0, 0, NULL, NULL, "UNAVAILABLE", NULL, MO_EXIT_TEMPFAIL,
	 "{host} cannot serve the login now ({code}: {text})",
	 "this is temporary on the server's side: try again later"},
	{P_IMAP, 0, 0, NULL, NULL, "AUTHORIZATIONFAILED", NULL, MO_EXIT_NOPERM,
	 "{host} accepted the token but {user} may not use that mailbox "
	 "({code})",
	 "check that the account's user is the mailbox the token was issued "
	 "for"},
	{P_IMAP, 0, 0, NULL, NULL, "EXPIRED", NULL, MO_EXIT_NOPERM,
	 "{host} says the credentials have expired ({code})",
	 "see 'mailoauth status {account}'; " T_LOGIN_AGAIN},
	{P_IMAP, 0, 0, NULL, NULL, "CONTACTADMIN", NULL, MO_EXIT_CONFIG,
	 "{host} refuses {user} until an administrator acts ({code}: {text})",
	 "ask the mail server's administrator"},

	/* ---- Microsoft 365 IMAP */
	{P_IMAP, S(MO_STEP_AUTH), 0, NULL, "NO", NULL, "AUTHENTICATE failed",
	 MO_EXIT_NOPERM,
	 "{host} rejected the IMAP login of {user} ({code})",
	 "for Microsoft 365 check that the token has the scope "
	 "https://outlook.office.com/IMAP.AccessAsUser.All (client "
	 "credentials: https://outlook.office365.com/.default with "
	 "IMAP.AccessAsApp and a mailbox permission for the app's service "
	 "principal), that IMAP is on for the mailbox (Set-CASMailbox "
	 "-Identity {user} -ImapEnabled $true) and that {user} is the mailbox "
	 "that signed in; " T_LOGIN_AGAIN},
	{P_IMAP, S(MO_STEP_EXAMINE), 0, NULL, "NO", NULL,
	 "authenticated but not connected", MO_EXIT_CONFIG,
	 "{host} accepted the token but cannot open the mailbox of {user} "
	 "({text})",
	 "with client credentials, the app's service principal needs rights "
	 "on the mailbox (New-ServicePrincipal, then Add-MailboxPermission "
	 "-Identity {user} -User <its object id> -AccessRights FullAccess); "
	 "with a user's token, {user} must be the mailbox that signed in"},
};

/* the challenge's words come between the specific rules and these */
static const struct rule generic_rules[] = {
	/* rejected logins: Gmail 535 5.7.8, Dovecot, any 535, IMAP NO */
	{P_SMTP, S(MO_STEP_AUTH), 535, NULL, NULL, NULL, NULL, MO_EXIT_NOPERM,
	 "{host} did not accept the token of {user} ({code}: {text})",
	 T_TOKEN_CHECK},
	{P_IMAP, S(MO_STEP_AUTH), 0, NULL, "NO", NULL, NULL, MO_EXIT_NOPERM,
	 "{host} did not accept the token of {user} ({code}: {text})",
	 T_TOKEN_CHECK},
	{P_SMTP, S(MO_STEP_AUTH), 5, NULL, NULL, NULL, NULL, MO_EXIT_NOPERM,
	 "{host} refused the login of {user} ({code}: {text})",
	 T_TOKEN_CHECK},

	/* IMAP: commands not understood, sessions ended */
	{P_IMAP, 0, 0, NULL, "BAD", NULL, NULL, MO_EXIT_PROTOCOL,
	 "{host} did not understand the {step} command ({code}: {text})",
	 "report it with the output of --verbose"},
	{P_IMAP, S(MO_STEP_GREETING), 0, NULL, "BYE", NULL, NULL,
	 MO_EXIT_TEMPFAIL,
	 "{host} refused the session at once ({code}: {text})",
	 "the server may be overloaded or limit connections: try again later"},
	{P_IMAP, 0, 0, NULL, "BYE", NULL, NULL, MO_EXIT_TEMPFAIL,
	 "{host} ended the session during {step} ({code}: {text})",
	 "try again later; " T_VERBOSE},
	{P_IMAP, S(MO_STEP_EXAMINE), 0, NULL, "NO", NULL, NULL, MO_EXIT_FAIL,
	 "{host} accepted the login but would not open INBOX ({code}: {text})",
	 "the mailbox may be unavailable or not exist yet; the server's words "
	 "above say why"},

	/* SMTP: by step and class */
	{P_SMTP, 0, 4, NULL, NULL, NULL, NULL, MO_EXIT_TEMPFAIL,
	 "{host} refused {step} for now ({code}: {text})",
	 "this is temporary: try again later (a mail program keeps the mail "
	 "queued meanwhile)"},
	{P_SMTP, S(MO_STEP_GREETING), 5, NULL, NULL, NULL, NULL, MO_EXIT_FAIL,
	 "{host} refuses connections from this machine ({code}: {text})",
	 "the server blocks this address; its words above say why"},
	{P_SMTP, S(MO_STEP_EHLO), 5, NULL, NULL, NULL, NULL, MO_EXIT_FAIL,
	 "{host} refused EHLO ({code}: {text})",
	 "the server may not speak ESMTP or may dislike this machine's name "
	 "(set a proper host name)"},
	{P_SMTP, S(MO_STEP_STARTTLS), 5, NULL, NULL, NULL, NULL, MO_EXIT_CONFIG,
	 "{host} offered STARTTLS but refused it ({code}: {text})",
	 "try the server's TLS port with --tls"},
	{P_SMTP, S(MO_STEP_MAIL_FROM), 5, NULL, NULL, NULL, NULL, MO_EXIT_NOPERM,
	 "{host} refused the sender {from} ({code}: {text})",
	 "{user} may not send as {from}: grant the right on the server, or "
	 "send with --from {user}"},
	{P_SMTP, S(MO_STEP_RCPT), 5, NULL, NULL, NULL, NULL, MO_EXIT_FAIL,
	 "{host} refused the recipient ({code}: {text})",
	 "check the --send-to address; the server may also refuse to relay to "
	 "it"},
	{P_SMTP, S(MO_STEP_DATA), 5, NULL, NULL, NULL, NULL, MO_EXIT_FAIL,
	 "{host} refused the test message ({code}: {text})",
	 "the server's words above say why (sender rights, content, limits)"},
	{P_ANY, 0, 0, NULL, NULL, NULL, NULL, MO_EXIT_FAIL,
	 "{host} refused {step} ({code}: {text})",
	 "the server's words above say why; " T_VERBOSE},
};

static bool rule_matches(const struct rule *r, const struct mo_diag_input *in)
{
	if (!(r->protos & (1u << in->proto)))
		return false;
	if (r->steps && !(r->steps & S(in->step)))
		return false;
	if (r->code >= 100 && r->code != in->code)
		return false;
	if (r->code > 0 && r->code < 10 && in->code / 100 != r->code)
		return false;
	if (r->enhanced && (!in->enhanced || strcmp(r->enhanced, in->enhanced)))
		return false;
	if (r->status && (!in->imap_status || strcasecmp(r->status, in->imap_status)))
		return false;
	if (r->resp_code && (!in->resp_code || strcasecmp(r->resp_code, in->resp_code)))
		return false;
	if (r->text && (!in->text || !strcasestr(in->text, r->text)))
		return false;
	return true;
}

static void apply(const struct rule *r, const struct vars *v,
		  struct mo_diagnosis *out)
{
	fill(out->what, sizeof(out->what), r->what, v);
	fill(out->todo, sizeof(out->todo), r->todo, v);
	out->exit_status = r->exit;
}

/* challenge - the server's OAuth error challenge explains the refusal */
static void challenge(const struct mo_challenge *c, const struct vars *v,
		      struct mo_diagnosis *out)
{
	const char *st = c->status, *todo;
	char what[MO_DIAG_WHAT_MAX];

	if (!strcmp(st, "403") || !strcasecmp(st, "insufficient_scope")) {
		snprintf(what, sizeof(what), "{host} says the token of {user} "
			 "lacks the scope it requires%s%s%s ({code})",
			 c->scope[0] ? " (" : "", c->scope[0] ? "{scope}" : "",
			 c->scope[0] ? ")" : "");
		fill(out->what, sizeof(out->what), what, v);
		fill(out->todo, sizeof(out->todo),
		     c->scope[0] ? "add {scope} to scopes in [account {account}] "
				   "of mailoauth.conf, " T_LOGIN_AGAIN
				 : "add the server's mail scope to scopes in [account "
				   "{account}] of mailoauth.conf, " T_LOGIN_AGAIN, v);
	} else {
		bool bad_request = !strcmp(st, "400") ||
				   !strcasecmp(st, "invalid_request");

		/* Google answers 400 for any token it will not take */
		if (bad_request && c->scope[0])
			snprintf(what, sizeof(what), "{host} rejected the token of "
				 "{user}: it is invalid or expired, or lacks the "
				 "scope {scope} (challenge status %s, {code})", st);
		else
			snprintf(what, sizeof(what), "{host} rejected the token of "
				 "{user}: %s%s%s (challenge status %s, {code})",
				 mo_challenge_explain(c),
				 c->scope[0] ? "; it asks for the scope " : "",
				 c->scope[0] ? "{scope}" : "", st[0] ? st : "none");
		fill(out->what, sizeof(out->what), what, v);
		if (bad_request)
			todo = c->scope[0]
			       ? "the token is not one the server takes: check that "
				 "scopes in [account {account}] include {scope} and "
				 "that {user} is the mailbox that signed in, then run "
				 "'mailoauth login {account}'; if they are right, the "
				 "token has expired or been revoked: see 'mailoauth "
				 "status {account}'"
			       : "check the account's scopes and user, and with "
				 "'mailoauth status {account}' that the grant is "
				 "valid; " T_LOGIN_AGAIN;
		else
			todo = c->scope[0]
			       ? "the token has expired or been revoked, or belongs "
				 "to another user than {user}: see 'mailoauth status "
				 "{account}' and log in again if the grant was "
				 "revoked; if scopes in [account {account}] do not "
				 "cover {scope}, add it and run 'mailoauth login "
				 "{account}'"
			       : "the token has expired or been revoked, or was "
				 "issued to another user or for another service: see "
				 "'mailoauth status {account}', and log in again if "
				 "the grant was revoked";
		fill(out->todo, sizeof(out->todo), todo, v);
	}
	out->exit_status = MO_EXIT_NOPERM;
}

static void make_vars(const struct mo_diag_input *in, struct vars *v)
{
	const char *t = in->text ? in->text : "";
	size_t n = strcspn(t, "\n");

	memset(v, 0, sizeof(*v));
	v->in = in;
	if (n >= sizeof(v->text))
		n = sizeof(v->text) - 1;
	memcpy(v->text, t, n);
	v->text[n] = '\0';
	if (in->proto == MO_DIAG_SMTP)
		snprintf(v->code, sizeof(v->code), "%d%s%s", in->code,
			 in->enhanced && *in->enhanced ? " " : "",
			 in->enhanced ? in->enhanced : "");
	else
		snprintf(v->code, sizeof(v->code), "%s%s%s%s",
			 in->imap_status ? in->imap_status : "",
			 in->resp_code && *in->resp_code ? " [" : "",
			 in->resp_code ? in->resp_code : "",
			 in->resp_code && *in->resp_code ? "]" : "");
	if (in->port > 0)
		snprintf(v->port, sizeof(v->port), "%d", in->port);
	else
		snprintf(v->port, sizeof(v->port), "%s", "its port");
}

/* no_auth - what it means that the server offers no usable mechanism */
static void no_auth(const struct mo_diag_input *in, const struct vars *v,
		    struct mo_diagnosis *out)
{
	const char *what, *todo;

	out->exit_status = MO_EXIT_CONFIG;
	if (in->fail == MO_FAIL_NO_MECH && in->mech && in->offered &&
	    (strstr(in->offered, "XOAUTH2") || strstr(in->offered, "OAUTHBEARER"))) {
		what = "{host} does not offer {mech}; it offers AUTH {offered}";
		todo = "leave out --mech, or name a mechanism the server offers";
	} else if (in->fail == MO_FAIL_NO_MECH) {
		what = "{host} offers AUTH {offered}, but neither XOAUTH2 nor "
		       "OAUTHBEARER: it takes no OAuth tokens here";
		todo = in->proto == MO_DIAG_SMTP
		       ? "for Microsoft 365, SMTP AUTH may be turned off for "
			 "the tenant (Set-TransportConfig "
			 "-SmtpClientAuthenticationDisabled $false); Exchange "
			 "Server on premises needs OAuth (hybrid modern "
			 "authentication) turned on; a server that offers only "
			 "LOGIN or PLAIN wants a password, not a token"
		       : "the server must enable XOAUTH2 or OAUTHBEARER; a "
			 "server that offers only LOGIN or PLAIN wants a "
			 "password, not a token";
	} else if (!in->tls) {
		what = "{host} offers no AUTH on an unencrypted connection";
		todo = "servers offer AUTH only after STARTTLS: leave out --plain";
	} else if (in->proto == MO_DIAG_SMTP) {
		what = "{host} offers no AUTH at all on this port";
		todo = "use the submission port 587 (or 465 with --tls): port 25 "
		       "takes no logins on most servers; for Microsoft 365, SMTP "
		       "AUTH may be turned off for the tenant "
		       "(Set-TransportConfig -SmtpClientAuthenticationDisabled "
		       "$false)";
	} else {
		what = "{host} offers no AUTH= mechanism";
		todo = "the server takes no logins here: check the host and port";
	}
	fill(out->what, sizeof(out->what), what, v);
	fill(out->todo, sizeof(out->todo), todo, v);
}

void mo_diagnose(const struct mo_diag_input *in, struct mo_diagnosis *out)
{
	struct vars v;

	memset(out, 0, sizeof(*out));
	make_vars(in, &v);
	if (in->fail == MO_FAIL_TIMEOUT) {
		fill(out->what, sizeof(out->what), in->step == MO_STEP_CONNECT
		     ? "no connection to {host} within the timeout"
		     : "{host} did not answer {step} within the timeout", &v);
		fill(out->todo, sizeof(out->todo), in->step == MO_STEP_CONNECT
		     ? "a firewall may drop the packets (many networks block "
		       "outgoing ports 25 and 587); check the route, or raise "
		       "--timeout"
		     : "the server or the network is slow or stuck: try again, "
		       "or raise --timeout", &v);
		out->exit_status = MO_EXIT_TEMPFAIL;
		return;
	}
	if (in->fail == MO_FAIL_NO_AUTH || in->fail == MO_FAIL_NO_MECH) {
		no_auth(in, &v, out);
		return;
	}
	if (in->fail != MO_FAIL_REPLY) {
		for (size_t i = 0; i < sizeof(fail_rules) / sizeof(*fail_rules); i++) {
			if (fail_rules[i].fail != in->fail)
				continue;
			fill(out->what, sizeof(out->what), fail_rules[i].what, &v);
			fill(out->todo, sizeof(out->todo), fail_rules[i].todo, &v);
			out->exit_status = fail_rules[i].exit;
			return;
		}
		fill(out->what, sizeof(out->what), "{step} failed ({detail})", &v);
		fill(out->todo, sizeof(out->todo), T_VERBOSE, &v);
		out->exit_status = MO_EXIT_SOFTWARE;
		return;
	}
	for (size_t i = 0; i < sizeof(rules) / sizeof(*rules); i++) {
		if (rule_matches(&rules[i], in)) {
			apply(&rules[i], &v, out);
			return;
		}
	}
	if (in->challenge && in->step == MO_STEP_AUTH) {
		challenge(in->challenge, &v, out);
		return;
	}
	for (size_t i = 0; i < sizeof(generic_rules) / sizeof(*generic_rules); i++) {
		if (rule_matches(&generic_rules[i], in)) {
			apply(&generic_rules[i], &v, out);
			return;
		}
	}
}

void mo_diagnose_daemon(enum mo_err err, const char *text,
			const char *account, struct mo_diagnosis *out)
{
	const struct mo_diag_input in = {.account = account};
	const char *todo, *aad = text ? strstr(text, "AADSTS") : NULL;
	struct vars v;
	char code[16];
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	snprintf(out->what, sizeof(out->what), "mailoauthd has no token for %s: %s",
		 account, text && *text ? text : mo_err_name(err));
	switch (err) {
	case MO_ERR_LOGIN_REQUIRED:
		todo = "run 'mailoauth login {account}', then test again";
		break;
	case MO_ERR_ADMIN_REQUIRED:
		todo = "an administrator of the tenant must act as the sentence "
		       "says (consent, policy), then run 'mailoauth login {account}'";
		break;
	case MO_ERR_CONFIG:
		todo = "correct [account {account}] in mailoauth.conf (or the app "
		       "registration), reload mailoauthd and test again";
		break;
	case MO_ERR_UNAVAILABLE:
	case MO_ERR_INTERNAL:
		todo = "this is temporary: 'mailoauth status {account}' shows when "
		       "mailoauthd tries again";
		break;
	case MO_ERR_DENIED:
		todo = "run the test as a user that 'allow' of [account {account}] "
		       "names (e.g. root or the mail system's user)";
		break;
	case MO_ERR_UNKNOWN_ACCOUNT:
		todo = "'mailoauth list' shows the accounts mailoauthd knows";
		break;
	default:
		todo = "report it, with the daemon's log";
		break;
	}
	make_vars(&in, &v);
	fill(out->todo, sizeof(out->todo), todo, &v);
	if (aad) {
		aad += 6;
		while (n + 1 < sizeof(code) && aad[n] >= '0' && aad[n] <= '9') {
			code[n] = aad[n];
			n++;
		}
		code[n] = '\0';
	}
	if (n) {
		size_t used = strlen(out->todo);

		snprintf(out->todo + used, sizeof(out->todo) - used,
			 "; Microsoft explains AADSTS%s at "
			 "https://login.microsoftonline.com/error?code=%s", code, code);
	}
	out->exit_status = mo_cli_exit_for_err(err);
}

const char *mo_diag_step_name(enum mo_diag_proto proto, enum mo_diag_step step)
{
	switch (step) {
	case MO_STEP_CONNECT:
		return "the connection";
	case MO_STEP_TLS:
		return "the TLS handshake";
	case MO_STEP_GREETING:
		return "the greeting";
	case MO_STEP_EHLO:
		return proto == MO_DIAG_SMTP ? "EHLO" : "CAPABILITY";
	case MO_STEP_STARTTLS:
		return "STARTTLS";
	case MO_STEP_AUTH:
		return proto == MO_DIAG_SMTP ? "AUTH" : "AUTHENTICATE";
	case MO_STEP_MAIL_FROM:
		return "MAIL FROM";
	case MO_STEP_RCPT:
		return "RCPT TO";
	case MO_STEP_DATA:
		return "DATA";
	case MO_STEP_EXAMINE:
		return "EXAMINE INBOX";
	default:
		return "the dialogue";
	}
}
