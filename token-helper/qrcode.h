/* SPDX-License-Identifier: MIT */
/*
 * qrcode.h - a QR code drawn with text, for `mailoauth login`
 *
 * The device flow's verification URL as a QR code on the terminal, so a
 * phone can open it: libqrencode makes the symbol, this draws two module
 * rows per text line with the UTF-8 half blocks U+2580, U+2584 and U+2588
 * inside a quiet zone of MO_QR_QUIET modules.
 *
 * SECURITY
 *	Only for public text (a verification URL); never give it a secret.
 *
 * DIAGNOSTICS
 *	None: NULL when the text cannot be encoded (too long); the caller
 *	then simply shows no QR code.
 */
#ifndef MAILOAUTH_QRCODE_H
#define MAILOAUTH_QRCODE_H

#include <stdbool.h>

#define MO_QR_QUIET 2		/* modules of light border on each side */
#define MO_QR_MAX_TEXT 1024	/* longer text is not drawn */

/*
 * mo_qr_render - TEXT's QR code (error correction level L) as lines ending
 * in '\n', in a new string (g_free). With ANSI every line is drawn black
 * on white (ESC[30;47m ... ESC[0m) so that it scans on dark terminals too;
 * without, dark modules are the blocks. *WIDTH_R, when not NULL, gets the
 * number of columns of a line (modules plus quiet zone).
 */
char *mo_qr_render(const char *text, bool ansi, int *width_r);

#endif
