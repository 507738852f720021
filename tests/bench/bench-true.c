/* SPDX-License-Identifier: MIT */
/*
 * bench-true - the smallest program: exits 0 (linked statically), the
 * floor that `mailoauth token` is compared with
 */
int main(void)
{
	return 0;
}
