/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "basic.h"

#include <stdarg.h>

struct nk_error {
	int code;
	char *message;
	char *hint;
};

/* The code of the last error recorded on this thread, so that
 * `return nk_error_hint(err, ...)` returns the right code even when the
 * caller passed no nk_error (err == NULL). */
static __thread int last_code = EIO;

static char *vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

_nk_export_ int nk_error_set(nk_error **err, int code, const char *fmt, ...)
{
	va_list ap;

	if (code < 0)
		code = -code;
	if (code == 0)
		code = EIO;
	if (!err || *err) {
		last_code = err && *err ? (*err)->code : code;
		return -code;
	}
	last_code = code;

	nk_error *e = calloc(1, sizeof(*e));
	if (!e)
		return -code;
	e->code = code;
	va_start(ap, fmt);
	e->message = vformat(fmt, ap);
	va_end(ap);
	if (!e->message) {
		free(e);
		return -code;
	}
	*err = e;
	return -code;
}

_nk_export_ int nk_error_hint(nk_error **err, const char *fmt, ...)
{
	va_list ap;

	if (!err || !*err)
		return -last_code;
	va_start(ap, fmt);
	char *h = vformat(fmt, ap);
	va_end(ap);
	if (h) {
		free((*err)->hint);
		(*err)->hint = h;
	}
	return -(*err)->code;
}

_nk_export_ int nk_error_prefix(nk_error **err, const char *fmt, ...)
{
	va_list ap;

	if (!err || !*err)
		return -last_code;
	va_start(ap, fmt);
	char *p = vformat(fmt, ap);
	va_end(ap);
	if (p) {
		char *m = NULL;
		if (asprintf(&m, "%s: %s", p, (*err)->message) >= 0) {
			free((*err)->message);
			(*err)->message = m;
		}
		free(p);
	}
	return -(*err)->code;
}

_nk_export_ int nk_error_code(const nk_error *err)
{
	return err ? err->code : 0;
}

_nk_export_ const char *nk_error_message(const nk_error *err)
{
	return err ? err->message : NULL;
}

_nk_export_ const char *nk_error_get_hint(const nk_error *err)
{
	return err ? err->hint : NULL;
}

_nk_export_ nk_error *nk_error_free(nk_error *err)
{
	if (err) {
		free(err->message);
		free(err->hint);
		free(err);
	}
	return NULL;
}

int nk_error_forward(nk_error **dst, nk_error **src, int code)
{
	if (code < 0)
		code = -code;
	if (src && *src && dst && !*dst) {
		*dst = *src;
		*src = NULL;
		last_code = (*dst)->code;
		return -(*dst)->code;
	}
	if (src && *src)
		code = (*src)->code;
	if (src)
		*src = nk_error_free(*src);
	return nk_error_set(dst, code ? code : EIO, "%s", strerror(code ? code : EIO));
}
