/* SPDX-License-Identifier: MIT */
/*
 * unit.h - what every unit test includes: cmocka and small helpers
 */
#ifndef MAILOAUTH_UNIT_H
#define MAILOAUTH_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

/* parse a string literal in a writable copy, as the wire code needs */
#define COPY(buf, lit) (memcpy((buf), (lit), sizeof(lit)), sizeof(lit) - 1)

#endif
