/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The CMOS RTC, an MC146818 at I/O ports 0x70 (index; bit 7, the NMI mask,
 * is ignored) and 0x71 (data).  The time registers read the host's UTC time
 * plus the offset the guest set, in BCD or binary and 12 or 24 hours as
 * register B says.  No update cycle is ever in progress (register A's UIP
 * reads 0), there are no interrupts (register C reads 0), and register D
 * says the RAM and time are valid.  While register B's SET bit is on, the
 * time registers hold what was read when it was set and what the guest
 * writes; clearing it makes the written time the guest's from then on.
 * Every other byte of the 128 (alarms, the CMOS RAM) keeps what is written.
 */
#include <string.h>

#include "boot.h"

#define RTC_SECONDS  0x00
#define RTC_MINUTES  0x02
#define RTC_HOURS    0x04
#define RTC_WEEKDAY  0x06
#define RTC_DAY	     0x07
#define RTC_MONTH    0x08
#define RTC_YEAR     0x09
#define RTC_A	     0x0a
#define RTC_B	     0x0b
#define RTC_C	     0x0c
#define RTC_D	     0x0d
#define RTC_CENTURY  VMM_RTC_CENTURY
#define RTC_A_UIP    0x80
#define RTC_B_SET    0x80
#define RTC_B_DM_BIN 0x04
#define RTC_B_24H    0x02
#define RTC_D_VRT    0x80
#define RTC_HOUR_PM  0x80

static bool rtc_time_reg(uint8_t reg)
{
	return reg <= RTC_YEAR || reg == RTC_CENTURY;
}

static uint8_t rtc_encode(const struct vmm_rtc *rtc, unsigned v)
{
	return rtc->cmos[RTC_B] & RTC_B_DM_BIN ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

static unsigned rtc_decode(const struct vmm_rtc *rtc, uint8_t v)
{
	return rtc->cmos[RTC_B] & RTC_B_DM_BIN ? v : (unsigned)(v >> 4) * 10 + (v & 0x0f);
}

/* The time registers of `t` (seconds since the epoch, UTC) in the current
 * mode, into the CMOS bytes. */
static void rtc_latch(struct vmm_rtc *rtc, time_t t)
{
	struct tm tm;
	uint8_t *c = rtc->cmos;

	if (!gmtime_r(&t, &tm))
		return;
	c[RTC_SECONDS] = rtc_encode(rtc, (unsigned)tm.tm_sec);
	c[RTC_MINUTES] = rtc_encode(rtc, (unsigned)tm.tm_min);
	if (c[RTC_B] & RTC_B_24H) {
		c[RTC_HOURS] = rtc_encode(rtc, (unsigned)tm.tm_hour);
	} else {
		unsigned h = (unsigned)tm.tm_hour % 12;
		c[RTC_HOURS] =
		    (uint8_t)(rtc_encode(rtc, h ? h : 12) | (tm.tm_hour >= 12 ? RTC_HOUR_PM : 0));
	}
	c[RTC_WEEKDAY] = rtc_encode(rtc, (unsigned)tm.tm_wday + 1);
	c[RTC_DAY] = rtc_encode(rtc, (unsigned)tm.tm_mday);
	c[RTC_MONTH] = rtc_encode(rtc, (unsigned)tm.tm_mon + 1);
	c[RTC_YEAR] = rtc_encode(rtc, (unsigned)(tm.tm_year + 1900) % 100);
	c[RTC_CENTURY] = rtc_encode(rtc, (unsigned)(tm.tm_year + 1900) / 100);
}

/* The time the CMOS bytes hold, in the current mode. */
static time_t rtc_parse(const struct vmm_rtc *rtc)
{
	const uint8_t *c = rtc->cmos;
	struct tm tm = {0};
	unsigned hour;

	tm.tm_sec = (int)rtc_decode(rtc, c[RTC_SECONDS]);
	tm.tm_min = (int)rtc_decode(rtc, c[RTC_MINUTES]);
	if (c[RTC_B] & RTC_B_24H) {
		hour = rtc_decode(rtc, c[RTC_HOURS]);
	} else {
		hour = rtc_decode(rtc, c[RTC_HOURS] & (uint8_t)~RTC_HOUR_PM) % 12;
		if (c[RTC_HOURS] & RTC_HOUR_PM)
			hour += 12;
	}
	tm.tm_hour = (int)hour;
	tm.tm_mday = (int)rtc_decode(rtc, c[RTC_DAY]);
	tm.tm_mon = (int)rtc_decode(rtc, c[RTC_MONTH]) - 1;
	tm.tm_year =
	    (int)(rtc_decode(rtc, c[RTC_CENTURY]) * 100 + rtc_decode(rtc, c[RTC_YEAR])) - 1900;
	return timegm(&tm);
}

/* The guest's time from now on: the one the time registers hold. */
static void rtc_set_offset(struct vmm_rtc *rtc)
{
	time_t t = rtc_parse(rtc);
	if (t != (time_t)-1)
		rtc->offset = t - rtc->clock();
}

static time_t rtc_host_time(void)
{
	return time(NULL);
}

void vmm_rtc_init(struct vmm_rtc *rtc, time_t (*clock)(void))
{
	memset(rtc, 0, sizeof(*rtc));
	rtc->clock = clock ? clock : rtc_host_time;
	rtc->cmos[RTC_A] = 0x26; /* the 32.768 kHz divider, 1.024 kHz rate */
	rtc->cmos[RTC_B] = RTC_B_24H;
	rtc->cmos[RTC_D] = RTC_D_VRT;
}

time_t vmm_rtc_time(const struct vmm_rtc *rtc)
{
	return rtc->clock() + rtc->offset;
}

uint8_t vmm_rtc_in(struct vmm_rtc *rtc, uint16_t port)
{
	uint8_t reg = rtc->index;

	if (port != VMM_RTC_DATA_PORT)
		return 0xff; /* the index is write-only */
	if (rtc_time_reg(reg) && !(rtc->cmos[RTC_B] & RTC_B_SET))
		rtc_latch(rtc, vmm_rtc_time(rtc));
	switch (reg) {
	case RTC_A:
		return rtc->cmos[RTC_A] & (uint8_t)~RTC_A_UIP;
	case RTC_C:
		return 0; /* no interrupt flags: nothing to clear */
	case RTC_D:
		return RTC_D_VRT;
	default:
		return rtc->cmos[reg];
	}
}

void vmm_rtc_out(struct vmm_rtc *rtc, uint16_t port, uint8_t value)
{
	uint8_t reg = rtc->index;

	if (port == VMM_RTC_INDEX_PORT) {
		rtc->index = value & 0x7f;
		return;
	}
	switch (reg) {
	case RTC_A:
		rtc->cmos[RTC_A] = value & (uint8_t)~RTC_A_UIP;
		break;
	case RTC_B: {
		/* Clearing SET starts the time the guest wrote, in the mode
		 * it wrote it in; setting it holds the time as it is, in the
		 * mode the guest is about to write it in. */
		uint8_t old = rtc->cmos[RTC_B];
		if (!(value & RTC_B_SET) && (old & RTC_B_SET))
			rtc_set_offset(rtc);
		rtc->cmos[RTC_B] = value;
		if ((value & RTC_B_SET) && !(old & RTC_B_SET))
			rtc_latch(rtc, vmm_rtc_time(rtc));
		break;
	}
	case RTC_C:
	case RTC_D:
		break; /* read-only */
	default:
		/* Outside SET, a time register written sets that field of
		 * the running time. */
		if (rtc_time_reg(reg) && !(rtc->cmos[RTC_B] & RTC_B_SET)) {
			rtc_latch(rtc, vmm_rtc_time(rtc));
			rtc->cmos[reg] = value;
			rtc_set_offset(rtc);
		} else {
			rtc->cmos[reg] = value;
		}
		break;
	}
}
