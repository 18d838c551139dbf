/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "basic.h"

#include <stdarg.h>

static nk_log_fn log_fn;
static void *log_userdata;
static enum nk_log_level log_max = NK_LOG_WARNING;

_nk_export_ void nk_log_set_handler(nk_log_fn fn, void *userdata, enum nk_log_level max_level)
{
	log_fn = fn;
	log_userdata = userdata;
	log_max = max_level;
}

void nk_log(enum nk_log_level level, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (!log_fn || level > log_max)
		return;
	va_start(ap, fmt);
	int r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	log_fn(level, msg, log_userdata);
	free(msg);
}

_nk_export_ const char *nk_version(void)
{
	return NUMAKSM_VERSION;
}
