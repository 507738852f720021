# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# idp-tls.sh - a second test IdP that serves HTTPS, for certificate checks
# (source after env.sh and e2e_init)
#
#   start_idp_tls       makes a throwaway CA ("right"), a second unrelated CA
#                       ("wrong") and a server certificate for 127.0.0.1
#                       signed by the right one, all in $IDP_TLS_DIR, then
#                       runs tests/idp/idp.py --tls-cert/--tls-key on a free
#                       loopback port. Exports IDP_TLS_URL
#                       (https://127.0.0.1:PORT), IDP_TLS_CA (the right CA's
#                       certificate), IDP_TLS_WRONG_CA and IDP_TLS_LOG.
#   idp_tls_call METHOD PATH [JSON]   idp_call for that instance (trusts
#                       IDP_TLS_CA only)
#   stop_idp_tls        (an E2E_STOP_HOOKS entry: stop_all runs it)
#
# SECURITY
#	The keys are made for one test run, live in $E2E_DIR and go with it;
#	the server only listens on loopback. The instance lists the secrets it
#	issues in $MO_IDP_SECRETS_FILE, as the plain one does.

IDP_TLS_DIR=$E2E_DIR/idp-tls
IDP_TLS_LOG=$E2E_DIR/idp-tls.log
IDP_TLS_CA=$IDP_TLS_DIR/right-ca.crt
IDP_TLS_WRONG_CA=$IDP_TLS_DIR/wrong-ca.crt
IDP_TLS_PID=

_idp_tls_certs() {
	local d=$IDP_TLS_DIR ca
	for ca in right wrong; do
		openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout "$d/$ca-ca.key" \
			-out "$d/$ca-ca.crt" -subj "/CN=mailoauth test $ca CA" 2>>"$d/openssl.err" ||
			return 1
	done
	openssl req -newkey rsa:2048 -nodes -keyout "$d/server.key" -out "$d/server.csr" \
		-subj /CN=127.0.0.1 2>>"$d/openssl.err" &&
		openssl x509 -req -in "$d/server.csr" -CA "$d/right-ca.crt" -CAkey "$d/right-ca.key" \
			-CAcreateserial -days 1 -out "$d/server.crt" \
			-extfile <(printf 'subjectAltName=IP:127.0.0.1\n') 2>>"$d/openssl.err"
}

start_idp_tls() {
	local port
	mkdir -p "$IDP_TLS_DIR/state"
	_idp_tls_certs || e2e_bail "start_idp_tls: openssl failed" "$IDP_TLS_DIR/openssl.err"
	_e2e_spawn idp-tls "$E2E_PYTHON" "$TOP/tests/idp/idp.py" --state-dir "$IDP_TLS_DIR/state" \
		--host 127.0.0.1 --port 0 --port-file "$IDP_TLS_DIR/port" --log "$IDP_TLS_LOG" \
		--tls-cert "$IDP_TLS_DIR/server.crt" --tls-key "$IDP_TLS_DIR/server.key"
	IDP_TLS_PID=$_E2E_SPAWNED
	E2E_STOP_HOOKS+=(stop_idp_tls)
	port=$(_e2e_wait_port_file idp-tls "$IDP_TLS_PID" "$IDP_TLS_DIR/port" 15) ||
		e2e_bail "start_idp_tls: no port file after 15 s" "$E2E_DIR/idp-tls.out" "$IDP_TLS_LOG"
	IDP_TLS_URL=https://127.0.0.1:$port
	export IDP_TLS_URL IDP_TLS_CA IDP_TLS_WRONG_CA IDP_TLS_LOG
	TAP_LOGS+=("$IDP_TLS_LOG")
}

stop_idp_tls() {
	[[ -n "${IDP_TLS_PID-}" ]] || return 0
	stop_pid "$IDP_TLS_PID" 5
	IDP_TLS_PID=
}

idp_tls_call() {
	local args=(-sS --fail-with-body --max-time 10 --cacert "$IDP_TLS_CA" -X "$1")
	[[ -n "${3-}" ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	curl "${args[@]}" "$IDP_TLS_URL$2"
}
