/* SPDX-License-Identifier: MIT */
/*
 * qrcode.c - draw a QR code with UTF-8 half blocks (see qrcode.h)
 *
 * Each text line stands for two rows of modules: upper dark and lower
 * dark is a full block, one of them a half block, neither a space. A
 * terminal cell is about twice as high as it is wide, so the modules come
 * out roughly square.
 *
 * SECURITY
 *	Public text only; nothing is kept.
 *
 * DIAGNOSTICS
 *	None (see qrcode.h).
 */
#include "qrcode.h"

#include <glib.h>
#include <qrencode.h>
#include <string.h>

#define FULL  "\xe2\x96\x88"	/* U+2588 FULL BLOCK */
#define UPPER "\xe2\x96\x80"	/* U+2580 UPPER HALF BLOCK */
#define LOWER "\xe2\x96\x84"	/* U+2584 LOWER HALF BLOCK */
#define INK   "\033[30;47m"	/* black on white */
#define PLAIN "\033[0m"

/* dark - is module (X, Y) dark? Outside the symbol is the quiet zone. */
static bool dark(const QRcode *qr, int x, int y)
{
	if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
		return false;
	return qr->data[y * qr->width + x] & 1;
}

char *mo_qr_render(const char *text, bool ansi, int *width_r)
{
	QRcode *qr;
	GString *out;
	int q = MO_QR_QUIET;

	if (!text || !*text || strlen(text) > MO_QR_MAX_TEXT)
		return NULL;
	qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_L);
	if (!qr)
		return NULL;
	out = g_string_new(NULL);
	for (int y = -q; y < qr->width + q; y += 2) {
		if (ansi)
			g_string_append(out, INK);
		for (int x = -q; x < qr->width + q; x++) {
			bool top = dark(qr, x, y), bottom = dark(qr, x, y + 1);

			g_string_append(out, top && bottom ? FULL :
					     top ? UPPER : bottom ? LOWER : " ");
		}
		if (ansi)
			g_string_append(out, PLAIN);
		g_string_append_c(out, '\n');
	}
	if (width_r)
		*width_r = qr->width + 2 * q;
	QRcode_free(qr);
	return g_string_free(out, FALSE);
}
