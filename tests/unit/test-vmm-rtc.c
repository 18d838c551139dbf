/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numaksm-vmm's CMOS RTC driven through its ports as a guest does, on a
 * clock the test sets: the time in BCD and binary, 12 and 24 hours, the
 * status registers (no update in progress, valid time), the century, the
 * time a guest writes and the CMOS RAM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "boot.h"

static time_t now;

static time_t test_clock(void)
{
	return now;
}

/* `y`-`mo`-`d` `h`:`mi`:`s` UTC, seconds since the epoch. */
static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = s};
	return timegm(&tm);
}

/* The RTC at power-on, the clock at `t`. */
static void power_on(struct vmm_rtc *rtc, time_t t)
{
	now = t;
	vmm_rtc_init(rtc, test_clock);
}

/* A register read and write as Linux does them, the NMI mask bit set. */
static uint8_t rd(struct vmm_rtc *rtc, uint8_t reg)
{
	vmm_rtc_out(rtc, VMM_RTC_INDEX_PORT, reg | 0x80);
	return vmm_rtc_in(rtc, VMM_RTC_DATA_PORT);
}

static void wr(struct vmm_rtc *rtc, uint8_t reg, uint8_t value)
{
	vmm_rtc_out(rtc, VMM_RTC_INDEX_PORT, reg | 0x80);
	vmm_rtc_out(rtc, VMM_RTC_DATA_PORT, value);
}

/* Seconds, minutes, hours, day, month and year written. */
static void wr_time(struct vmm_rtc *rtc, const uint8_t v[6])
{
	static const uint8_t regs[] = {0x00, 0x02, 0x04, 0x07, 0x08, 0x09};
	for (size_t i = 0; i < sizeof(regs); i++)
		wr(rtc, regs[i], v[i]);
}

/* Seconds, minutes, hours, weekday, day and month, the year and century. */
static void assert_time(struct vmm_rtc *rtc, const uint8_t want[6], uint8_t year, uint8_t century)
{
	static const uint8_t regs[] = {0x00, 0x02, 0x04, 0x06, 0x07, 0x08};
	for (size_t i = 0; i < sizeof(regs); i++)
		assert_int_equal(rd(rtc, regs[i]), want[i]);
	assert_int_equal(rd(rtc, 0x09), year);
	assert_int_equal(rd(rtc, VMM_RTC_CENTURY), century);
}

static void test_rtc_power_on(void **state)
{
	struct vmm_rtc rtc;
	(void)state;
	power_on(&rtc, utc(2026, 12, 7, 17, 4, 9)); /* a Monday */
	/* 24 hours, BCD: Monday is day 2 of the week. */
	assert_time(&rtc, (const uint8_t[]){0x09, 0x04, 0x17, 0x02, 0x07, 0x12}, 0x26, 0x20);
	assert_int_equal(rd(&rtc, 0x0a), 0x26); /* no update in progress */
	assert_int_equal(rd(&rtc, 0x0b), 0x02);
	assert_int_equal(rd(&rtc, 0x0c), 0x00);
	assert_int_equal(rd(&rtc, 0x0d), 0x80); /* the RAM and time valid */
	/* The index port is write-only; the clock runs. */
	assert_int_equal(vmm_rtc_in(&rtc, VMM_RTC_INDEX_PORT), 0xff);
	now += 61;
	assert_int_equal(rd(&rtc, 0x00), 0x10);
	assert_int_equal(rd(&rtc, 0x02), 0x05);
	assert_true(vmm_rtc_time(&rtc) == now);
}

static void test_rtc_modes(void **state)
{
	struct vmm_rtc rtc;
	(void)state;
	power_on(&rtc, utc(1999, 12, 31, 17, 4, 9)); /* a Friday */
	wr(&rtc, 0x0b, 0x06);			     /* binary, 24 hours */
	assert_time(&rtc, (const uint8_t[]){9, 4, 17, 6, 31, 12}, 99, 19);
	wr(&rtc, 0x0b, 0x04); /* binary, 12 hours: 5 PM */
	assert_int_equal(rd(&rtc, 0x04), 0x85);
	wr(&rtc, 0x0b, 0x00); /* BCD, 12 hours */
	assert_time(&rtc, (const uint8_t[]){0x09, 0x04, 0x85, 0x06, 0x31, 0x12}, 0x99, 0x19);
	/* Midnight is 12 AM, noon 12 PM. */
	now = utc(2000, 1, 1, 0, 30, 0);
	assert_int_equal(rd(&rtc, 0x04), 0x12);
	assert_int_equal(rd(&rtc, 0x09), 0x00);
	assert_int_equal(rd(&rtc, VMM_RTC_CENTURY), 0x20);
	now = utc(2000, 1, 1, 12, 30, 0);
	assert_int_equal(rd(&rtc, 0x04), 0x92);
	wr(&rtc, 0x0b, 0x04);
	assert_int_equal(rd(&rtc, 0x04), 0x8c);
	now = utc(2000, 1, 1, 0, 30, 0);
	assert_int_equal(rd(&rtc, 0x04), 12);
}

/* The guest sets the time as Linux's mc146818_set_time() does: SET, the
 * registers, SET cleared. */
static void test_rtc_guest_time(void **state)
{
	struct vmm_rtc rtc;
	(void)state;
	power_on(&rtc, utc(2026, 12, 7, 5, 35, 27));
	wr(&rtc, 0x0b, 0x82);
	/* While SET, the time does not run. */
	now += 5;
	assert_int_equal(rd(&rtc, 0x00), 0x27);
	wr_time(&rtc, (const uint8_t[]){0x05, 0x04, 0x03, 0x02, 0x01, 0x30});
	now += 5;
	assert_int_equal(rd(&rtc, 0x00), 0x05);
	wr(&rtc, 0x0b, 0x02);
	assert_true(vmm_rtc_time(&rtc) == utc(2030, 1, 2, 3, 4, 5));
	/* It runs from there with the host's clock. */
	now += 70;
	assert_true(vmm_rtc_time(&rtc) == utc(2030, 1, 2, 3, 5, 15));
	assert_time(&rtc, (const uint8_t[]){0x15, 0x05, 0x03, 0x04, 0x02, 0x01}, 0x30, 0x20);

	/* In binary and 12 hours, with the century: 1999-12-31 11:59:58 PM. */
	wr(&rtc, 0x0b, 0x84);
	wr_time(&rtc, (const uint8_t[]){58, 59, 0x80 | 11, 31, 12, 99});
	wr(&rtc, VMM_RTC_CENTURY, 19);
	wr(&rtc, 0x0b, 0x04);
	assert_true(vmm_rtc_time(&rtc) == utc(1999, 12, 31, 23, 59, 58));
	now += 3;
	assert_time(&rtc, (const uint8_t[]){1, 0, 12, 7, 1, 1}, 0, 20);

	/* A time register written outside SET sets that field. */
	wr(&rtc, 0x02, 30);
	assert_true(vmm_rtc_time(&rtc) == utc(2000, 1, 1, 0, 30, 1));
}

static void test_rtc_cmos_ram(void **state)
{
	struct vmm_rtc rtc;
	(void)state;
	power_on(&rtc, utc(2026, 12, 7, 5, 35, 27));
	/* The alarms and the RAM keep what is written. */
	wr(&rtc, 0x01, 0x30);
	wr(&rtc, 0x03, 0x45);
	wr(&rtc, 0x05, 0x06);
	wr(&rtc, 0x0e, 0xa5);
	wr(&rtc, 0x7f, 0x5a);
	assert_int_equal(rd(&rtc, 0x01), 0x30);
	assert_int_equal(rd(&rtc, 0x03), 0x45);
	assert_int_equal(rd(&rtc, 0x05), 0x06);
	assert_int_equal(rd(&rtc, 0x0e), 0xa5);
	assert_int_equal(rd(&rtc, 0x7f), 0x5a);
	/* UIP cannot be set; C and D are read-only. */
	wr(&rtc, 0x0a, 0xa6);
	assert_int_equal(rd(&rtc, 0x0a), 0x26);
	wr(&rtc, 0x0c, 0xff);
	wr(&rtc, 0x0d, 0x00);
	assert_int_equal(rd(&rtc, 0x0c), 0x00);
	assert_int_equal(rd(&rtc, 0x0d), 0x80);
	/* Interrupt enables are kept; none is ever raised. */
	wr(&rtc, 0x0b, 0x72);
	assert_int_equal(rd(&rtc, 0x0b), 0x72);
	assert_int_equal(rd(&rtc, 0x0c), 0x00);
	assert_true(vmm_rtc_time(&rtc) == now);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rtc_power_on),
	    cmocka_unit_test(test_rtc_modes),
	    cmocka_unit_test(test_rtc_guest_time),
	    cmocka_unit_test(test_rtc_cmos_ram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
