/* SPDX-License-Identifier: MIT */
/*
 * login_client.c - `mailoauth login` for flow = client-credentials
 *
 * No user signs in: the app's own credential is the grant. Without
 * client_certificate in the account it is the client secret, read with
 * mo_cli_read_secret (--secret-file, else the terminal without echo,
 * else standard input). With client_certificate (the certificate's PEM
 * file, named in the config) it is the certificate's private key, read
 * from --key-file; an encrypted key is decrypted with its passphrase
 * (--passphrase-file, else the terminal, else standard input) and kept
 * as unencrypted PKCS#8 PEM, since the daemon signs with it unattended
 * (it lives only inside the store, which is encrypted or a keyring).
 * Either way the credential is checked by fetching a token before
 * anything is stored.
 *
 * SECURITY
 *	The secret, the key (both forms), the passphrase and the fetched
 *	token are wiped when done (mo_oauth_secret_free, OPENSSL_cleanse;
 *	OpenSSL's memory BIOs and key objects clear themselves on free).
 *	The token is not kept: the daemon fetches its own.
 *
 * DIAGNOSTICS
 *	One sentence on standard error: the file that cannot be read (66),
 *	an unusable key or wrong passphrase (65), a certificate that cannot
 *	be read (78), or the identity provider's classified error for the
 *	test fetch (a wrong secret is AADSTS7000215, 78).
 */
#define _GNU_SOURCE
#include "login.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct verify {
	GMainLoop *loop;
	int status;
	char *token_user;
};

static void on_token(const struct mo_oauth_tokens *tokens,
		     const struct mo_oauth_error *err, void *ud)
{
	struct verify *v = ud;

	if (tokens) {
		v->status = 0;
		v->token_user = mo_login_token_user(tokens->access_token);
	} else {
		mo_cli_error("%s; nothing was stored", err->message);
		v->status = mo_login_exit_for_error(err);
	}
	g_main_loop_quit(v->loop);
}

/* verify - fetch one token with L->client's credential; 0 or a status */
static int verify(struct mo_login *l, struct mo_login_result *res)
{
	struct verify v = { .loop = l->loop, .status = MO_EXIT_SOFTWARE };
	struct mo_oauth_call *call;

	call = mo_oauth_client_credentials(l->http, &l->client, on_token, &v);
	if (!call)
		return MO_EXIT_SOFTWARE;
	g_main_loop_run(l->loop);
	res->token_user = v.token_user;
	return v.status;
}

struct pass {
	const char *passphrase;	/* NULL: not known (yet) */
	bool asked;
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass *p = u;
	size_t n;

	(void)rwflag;
	p->asked = true;
	if (!p->passphrase)
		return -1;
	n = strlen(p->passphrase);
	if (size < 0 || n > (size_t)size)
		return -1;
	memcpy(buf, p->passphrase, n);
	return (int)n;
}

/* read_key - parse PEM with PASSPHRASE (or none); NULL if it fails */
static EVP_PKEY *read_key(const char *pem, struct pass *p)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *key;

	if (!bio)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, p);
	BIO_free(bio);
	ERR_clear_error();
	return key;
}

/* pkcs8_pem - KEY as unencrypted PKCS#8 PEM, malloc'd; NULL on failure */
static char *pkcs8_pem(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long len;

	if (!bio)
		return NULL;
	if (PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL,
					  NULL) == 1 &&
	    (len = BIO_get_mem_data(bio, &data)) > 0) {
		out = malloc((size_t)len + 1);
		if (out) {
			memcpy(out, data, (size_t)len);
			out[len] = '\0';
		}
	}
	BIO_free(bio);	/* BUF_MEM_free clears what it frees */
	return out;
}

/* load_key - --key-file, decrypted; its PKCS#8 PEM in RES; 0 or a status */
static int load_key(struct mo_login *l, struct mo_login_result *res)
{
	const char *file = l->key_file;
	struct pass p = {0};
	char *pem, *passphrase = NULL, *prompt;
	EVP_PKEY *key;
	int status = 0;

	pem = mo_cli_read_secret("", file, &status);
	if (!pem)
		return status;
	key = read_key(pem, &p);
	if (!key && p.asked) {
		prompt = g_strdup_printf("Passphrase of %s: ", file);
		passphrase = mo_cli_read_secret(prompt, l->passphrase_file,
						&status);
		g_free(prompt);
		if (!passphrase)
			goto out;
		p.passphrase = passphrase;
		key = read_key(pem, &p);
		if (!key) {
			mo_cli_error("the passphrase does not decrypt the key "
				     "in %s; nothing was stored", file);
			status = MO_EXIT_DATAERR;
			goto out;
		}
	} else if (!key) {
		mo_cli_error("%s holds no private key that OpenSSL can read "
			     "(a PEM key is expected, e.g. \"-----BEGIN PRIVATE "
			     "KEY-----\"); nothing was stored", file);
		status = MO_EXIT_DATAERR;
		goto out;
	}
	res->grant.private_key = pkcs8_pem(key);
	if (!res->grant.private_key) {
		mo_cli_error("cannot convert the key in %s to PKCS#8", file);
		status = MO_EXIT_SOFTWARE;
	}
out:
	EVP_PKEY_free(key);
	mo_oauth_secret_free(passphrase);
	mo_oauth_secret_free(pem);
	return status;
}

/*
 * check_pair - the key signs an assertion for the certificate: a key that
 * is not RSA, too short or not the certificate's is caught here, in
 * plain words, before the identity provider is asked
 */
static int check_pair(struct mo_login *l, const char *cert,
		      const char *key_pem)
{
	const struct mo_account_config *a = l->account;
	GError *error = NULL;
	char *assertion = NULL;
	int status = 0;

	if (mo_jwt_client_assertion(a->client_id, a->token_endpoint, cert,
				    key_pem, NULL, &assertion, &error) == 0) {
		mo_oauth_secret_free(assertion);
		return 0;
	}
	if (error->code == MO_OAUTH_ERROR_CERT) {
		mo_cli_error("account '%s': client_certificate %s: %s",
			     a->name, a->client_certificate, error->message);
		status = MO_EXIT_CONFIG;
	} else {
		mo_cli_error("account '%s': the key in %s cannot sign for the "
			     "certificate %s: %s; nothing was stored", a->name,
			     l->key_file, a->client_certificate, error->message);
		status = error->code == MO_OAUTH_ERROR_FAILED ? MO_EXIT_SOFTWARE
							      : MO_EXIT_DATAERR;
	}
	g_error_free(error);
	return status;
}

int mo_login_client_credentials(struct mo_login *l,
				struct mo_login_result *res)
{
	const struct mo_account_config *a = l->account;
	GError *error = NULL;
	char *cert = NULL;
	int status;

	if (!a->client_certificate) {
		status = mo_login_client_secret(l, res);
		return status ? status : verify(l, res);
	}
	if (!g_file_get_contents(a->client_certificate, &cert, NULL, &error)) {
		mo_cli_error("account '%s': cannot read client_certificate: %s",
			     a->name, error->message);
		g_error_free(error);
		return MO_EXIT_CONFIG;
	}
	status = load_key(l, res);
	if (!status)
		status = check_pair(l, cert, res->grant.private_key);
	if (!status) {
		l->client.cert_pem = cert;
		l->client.key_pem = res->grant.private_key;
		status = verify(l, res);
		l->client.cert_pem = NULL;
		l->client.key_pem = NULL;
	}
	g_free(cert);
	return status;
}
