/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm exporter: the host's KSM, NUMA nodes and hugepages and every VM
 * on it as Prometheus metrics, served on /metrics over HTTP (libmicrohttpd)
 * or written to a node_exporter textfile.  One polling thread serves every
 * connection: scrapes run one at a time, the threads and the memory are
 * bounded whatever clients do, and a client that sends nothing is dropped
 * after a timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <numaksm/cleanup.h>

#include "metrics.h"
#include "tool.h"
#include "web-config.h"

#define DEFAULT_LISTEN		"127.0.0.1:9847"
#define DEFAULT_MAX_CONNECTIONS 64
/* A VM's memory map, pages per node and threads are read again after this;
 * its KSM figures every scrape. */
#define DEFAULT_VM_REFRESH_S 300
/* A client that has sent no complete request by then is dropped. */
#define CONNECTION_TIMEOUT_S 10

struct exporter_args {
	const char *listen;
	const char *root;
	const char *textfile;
	const char *web_config;
	unsigned max_connections;
	double vm_refresh_s;
};

struct exporter {
	nk_host *host;
	struct metrics_state state;
	/* The web config's users, replaced on SIGHUP: under `lock`. */
	pthread_mutex_t lock;
	struct web_config web;
	/* The last user and password that passed, so that a scrape every few
	 * seconds does not pay bcrypt every time (exporter-toolkit does so). */
	char *cached_user, *cached_password;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: numaksm exporter [--listen ADDRESS:PORT] [--root DIR]\n"
		"                        [--web.config.file FILE] [--max-connections N]\n"
		"       numaksm exporter --textfile FILE [--root DIR]\n\n"
		"Serve the host's KSM, NUMA nodes, hugepages and every VM as Prometheus\n"
		"metrics on http://ADDRESS:PORT/metrics (default " DEFAULT_LISTEN "), until\n"
		"SIGTERM or SIGINT.  --textfile writes them once to FILE (atomically) for\n"
		"node_exporter's textfile collector, e.g. from a timer.\n\n"
		"  --listen ADDRESS:PORT  where to listen; [::1]:PORT for IPv6, :PORT for every\n"
		"                         address (a warning: the metrics name the VMs)\n"
		"  --root DIR             a captured /sys and /proc tree instead of this host\n"
		"  --web.config.file FILE TLS and basic authentication, in the format of\n"
		"                         Prometheus exporters (numaksm-exporter(8)); SIGHUP\n"
		"                         reads its users again\n"
		"  --max-connections N    connections served at once (default %d)\n"
		"  --vm-refresh SECONDS   read a VM's memory map, pages per node and threads\n"
		"                         again once they are this old (default %d; 0: every\n"
		"                         scrape); its KSM figures are read every scrape\n"
		"  --textfile FILE        write the metrics to FILE and exit\n"
		"  -h, --help             this help\n\n"
		"The metrics are listed in numaksm-exporter(8).\n",
		DEFAULT_MAX_CONNECTIONS, DEFAULT_VM_REFRESH_S);
}

static int parse_args(int argc, char **argv, struct exporter_args *a, nk_error **err)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"root", required_argument, NULL, 'r'},
	    {"textfile", required_argument, NULL, 't'},
	    {"max-connections", required_argument, NULL, 'c'},
	    {"web.config.file", required_argument, NULL, 'w'},
	    {"vm-refresh", required_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	long long v;
	int opt;

	*a = (struct exporter_args){.listen = DEFAULT_LISTEN,
				    .max_connections = DEFAULT_MAX_CONNECTIONS,
				    .vm_refresh_s = DEFAULT_VM_REFRESH_S};
	tool_complete_options(argc, argv, opts, NULL, TOOL_VALUE_NONE);
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":hl:r:t:c:w:v:", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			a->listen = optarg;
			break;
		case 'r':
			a->root = optarg;
			break;
		case 't':
			a->textfile = optarg;
			break;
		case 'c':
			if (nk_parse_int(optarg, 1, 65536, &v, NULL) < 0)
				return tool_usage_error(
				    err,
				    "--max-connections '%s': expected a number from 1 to 65536",
				    optarg);
			a->max_connections = (unsigned)v;
			break;
		case 'w':
			a->web_config = optarg;
			break;
		case 'v': {
			char *end;
			errno = 0;
			a->vm_refresh_s = strtod(optarg, &end);
			if (end == optarg || *end || errno || !(a->vm_refresh_s >= 0) ||
			    a->vm_refresh_s > 86400)
				return tool_usage_error(
				    err,
				    "--vm-refresh '%s': expected seconds from 0 "
				    "to 86400",
				    optarg);
			break;
		}
		case 'h':
			usage(stdout);
			return 1;
		default:
			return tool_getopt_error(err, "exporter", opt, argv);
		}
	}
	if (optind < argc)
		return tool_usage_error(err, "unexpected argument '%s'", argv[optind]);
	if (a->textfile && a->web_config)
		return tool_usage_error(err, "--web.config.file serves HTTP: not with --textfile");
	return 0;
}

/* ---- the listening socket -------------------------------------------------- */

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* Bind and listen on "HOST:PORT", "[V6]:PORT" or ":PORT". */
static int listen_on(const char *spec, bool *ret_loopback, nk_error **err)
{
	char host[256];
	const char *port;
	const char *colon = strrchr(spec, ':');

	if (!colon || !colon[1])
		return tool_usage_error(err, "--listen '%s': expected ADDRESS:PORT, e.g. %s", spec,
					DEFAULT_LISTEN);
	port = colon + 1;
	size_t hlen = (size_t)(colon - spec);
	if (hlen >= sizeof(host))
		return tool_usage_error(err, "--listen '%s': the address is too long", spec);
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	} else if (strchr(host, ':')) {
		return tool_usage_error(err,
					"--listen '%s': write an IPv6 address in brackets, "
					"e.g. [::1]:9847",
					spec);
	}
	long long pv;
	if (nk_parse_int(port, 1, 65535, &pv, NULL) < 0)
		return tool_usage_error(
		    err, "--listen '%s': port '%s' is not a number from 1 to 65535", spec, port);

	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
			*res = NULL;
	int r = getaddrinfo(*host ? host : NULL, port, &hints, &res);
	if (r != 0) {
		tool_usage_error(err, "--listen '%s': cannot resolve '%s': %s", spec, host,
				 gai_strerror(r));
		return nk_error_hint(err, "give an address of this host, e.g. %s", DEFAULT_LISTEN);
	}
	/* ":PORT": every address, IPv6 and IPv4 alike when the host has IPv6. */
	struct addrinfo *ai = res;
	for (struct addrinfo *p = res; !*host && p; p = p->ai_next)
		if (p->ai_family == AF_INET6) {
			ai = p;
			break;
		}
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(res);
		return nk_error_set(err, -r, "--listen '%s': socket: %s", spec, strerror(-r));
	}
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6 && !*host)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		freeaddrinfo(res);
		nk_error_set(err, -r, "cannot listen on %s: %s", spec, strerror(-r));
		if (r == -EADDRINUSE)
			return nk_error_hint(err,
					     "another program listens on port %s (ss -ltnp "
					     "'sport = :%s'); choose another with --listen",
					     port, port);
		if (r == -EADDRNOTAVAIL)
			return nk_error_hint(err, "'%s' is not an address of this host", host);
		return r;
	}
	*ret_loopback = *host && is_loopback(ai->ai_addr);
	freeaddrinfo(res);
	return fd;
}

/* ---- HTTP ------------------------------------------------------------------ */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     char *body, size_t len)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
	char *body = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&body, fmt, ap);
	va_end(ap);
	if (n < 0)
		return MHD_NO;
	return reply(c, status, "text/plain; charset=utf-8", body, (size_t)n);
}

static bool same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* Whether the request may be served: no users configured, or one of them
 * with the right password. */
static bool authorized(struct exporter *x, struct MHD_Connection *c)
{
	bool ok;
	pthread_mutex_lock(&x->lock);
	if (!x->web.n_users) {
		pthread_mutex_unlock(&x->lock);
		return true;
	}
	char *password = NULL;
	char *user = MHD_basic_auth_get_username_password(c, &password);
	if (!user || !password) {
		ok = false;
	} else if (x->cached_user && same(user, x->cached_user) &&
		   same(password, x->cached_password)) {
		ok = true;
	} else {
		ok = web_config_check(&x->web, user, password);
		if (ok) {
			free(x->cached_user);
			free(x->cached_password);
			x->cached_user = strdup(user);
			x->cached_password = strdup(password);
		}
	}
	pthread_mutex_unlock(&x->lock);
	if (user)
		MHD_free(user);
	if (password)
		MHD_free(password);
	return ok;
}

/* SIGHUP: read the web config's users again (TLS needs a restart). */
static void reload_web_config(struct exporter *x, const char *path)
{
	struct web_config fresh;
	_cleanup_error_ nk_error *err = NULL;
	if (web_config_load(path, &fresh, &err) < 0) {
		fprintf(stderr, "numaksm exporter: SIGHUP: keeping the users as they were: %s\n",
			nk_error_message(err));
		return;
	}
	pthread_mutex_lock(&x->lock);
	if (!fresh.cert_pem != !x->web.cert_pem ||
	    (fresh.cert_pem &&
	     (strcmp(fresh.cert_pem, x->web.cert_pem) || strcmp(fresh.key_pem, x->web.key_pem))))
		fprintf(stderr,
			"numaksm exporter: SIGHUP: TLS settings change only on a restart\n");
	struct web_user *users = x->web.users;
	size_t n = x->web.n_users;
	x->web.users = fresh.users;
	x->web.n_users = fresh.n_users;
	fresh.users = users;
	fresh.n_users = n;
	free(x->cached_user);
	free(x->cached_password);
	x->cached_user = x->cached_password = NULL;
	size_t now = x->web.n_users;
	pthread_mutex_unlock(&x->lock);
	fprintf(stderr, "numaksm exporter: SIGHUP: %zu users from %s\n", now, path);
	web_config_done(&fresh);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **con_cls)
{
	struct exporter *x = cls;
	(void)version;
	(void)upload_data;

	/* The first call sees the headers only: answer on it, a body is not
	 * read (a GET has none, and others are refused). */
	if (!*con_cls) {
		*con_cls = x;
		if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
			return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
					  "%s is not served: GET /metrics\n", method);
	}
	if (*upload_size) {
		*upload_size = 0; /* discarded */
		return MHD_YES;
	}
	if (!authorized(x, c)) {
		char *body = strdup("authentication required\n");
		struct MHD_Response *resp =
		    body
			? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
			: NULL;
		if (!resp) {
			free(body);
			return MHD_NO;
		}
		enum MHD_Result r = MHD_queue_basic_auth_fail_response(c, "numaksm", resp);
		MHD_destroy_response(resp);
		return r;
	}
	if (!strcmp(url, "/")) {
		static const char page[] =
		    "<html><head><title>numaksm exporter</title></head><body>\n"
		    "<h1>numaksm exporter</h1>\n<p><a href=\"/metrics\">Metrics</a></p>\n"
		    "</body></html>\n";
		char *body = strdup(page);
		return body ? reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", body,
				    sizeof(page) - 1)
			    : MHD_NO;
	}
	if (strcmp(url, "/metrics"))
		return reply_text(c, MHD_HTTP_NOT_FOUND,
				  "not found: the metrics are on /metrics\n");

	char *body = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&body, &len);
	if (!out)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	_cleanup_error_ nk_error *err = NULL;
	int r = metrics_write(x->host, &x->state, out, &err);
	if (fclose(out) != 0 && r >= 0)
		r = -ENOMEM;
	if (r < 0) {
		free(body);
		fprintf(stderr, "numaksm exporter: scrape failed: %s\n",
			err ? nk_error_message(err) : strerror(-r));
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "scrape failed: %s\n",
				  err ? nk_error_message(err) : strerror(-r));
	}
	return reply(c, MHD_HTTP_OK, METRICS_CONTENT_TYPE, body, len);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("numaksm exporter: ", stderr);
	vfprintf(stderr, fmt, ap);
}

static int serve(struct exporter *x, const struct exporter_args *a, nk_error **err)
{
	bool loopback = false;
	if (a->web_config) {
		int r = web_config_load(a->web_config, &x->web, err);
		if (r < 0)
			return r;
	}
	bool tls = x->web.cert_pem != NULL;
	int fd = listen_on(a->listen, &loopback, err);
	if (fd < 0)
		return fd;
	if (!loopback && !tls && !x->web.n_users)
		fprintf(stderr,
			"numaksm exporter: warning: listening on %s, beyond this host, without TLS "
			"or authentication: anyone who can reach it reads the VMs' names and "
			"memory\n",
			a->listen);

	/* The signals are taken here, by sigwait(): block them before the
	 * polling thread starts, so that it inherits the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct MHD_OptionItem tls_options[] = {
	    {MHD_OPTION_HTTPS_MEM_CERT, 0, x->web.cert_pem},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, x->web.key_pem},
	    {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)x->web.tls_priorities},
	    {MHD_OPTION_END, 0, NULL},
	};
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (tls ? MHD_USE_TLS : 0), 0, NULL,
	    NULL, handle, x, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_ARRAY,
	    tls ? tls_options : tls_options + 3, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, a->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
	    MHD_OPTION_END);
	if (!d) {
		close(fd);
		return nk_error_set(err, EIO, "cannot start the HTTP server on %s%s", a->listen,
				    tls ? ": are the certificate and key of the web config a pair?"
					: "");
	}
	fprintf(stderr, "numaksm exporter: serving %s://%s/metrics%s\n", tls ? "https" : "http",
		a->listen, x->web.n_users ? " to its users" : "");
	int sig = 0;
	do {
		if (sigwait(&set, &sig) != 0)
			break;
		if (sig == SIGHUP && a->web_config)
			reload_web_config(x, a->web_config);
		else if (sig == SIGHUP)
			fprintf(stderr, "numaksm exporter: SIGHUP: no web config to read again\n");
	} while (sig == SIGHUP);
	fprintf(stderr, "numaksm exporter: %s: stopping\n", strsignal(sig));
	MHD_stop_daemon(d);
	close(fd);
	return EXIT_OK;
}

/* ---- textfile ---------------------------------------------------------------- */

/* Write the metrics to a new file beside `path`, then rename it over
 * `path`: a reader sees the old file or the new one, whole.  The new file
 * is created (O_EXCL), so nothing planted there is followed. */
static int write_textfile(struct exporter *x, const char *path, nk_error **err)
{
	_cleanup_free_ char *tmp = NULL;
	struct stat st;
	/* The file is replaced, not written through: a link or a device named
	 * by mistake (/dev/stdout) would be replaced by a regular file. */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		tool_usage_error(err, "--textfile %s is not a regular file", path);
		return nk_error_hint(err, "name a file of its own, e.g. in node_exporter's "
					  "textfile directory: it is replaced whole each time");
	}
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		nk_error_set(err, -r, "cannot create a file beside %s: %s", path, strerror(-r));
		return nk_error_hint(err, "the directory must exist and be writable");
	}
	FILE *out = fdopen(fd, "w");
	if (!out) {
		int r = -errno;
		close(fd);
		unlink(tmp);
		return nk_error_set(err, -r, "%s: %s", tmp, strerror(-r));
	}
	int r = metrics_write(x->host, &x->state, out, err);
	if (r >= 0 && (fchmod(fd, 0644) < 0 || fflush(out) != 0 || fsync(fd) < 0))
		r = nk_error_set(err, errno, "cannot write %s: %s", tmp, strerror(errno));
	if (fclose(out) != 0 && r >= 0)
		r = nk_error_set(err, errno, "cannot write %s: %s", tmp, strerror(errno));
	if (r >= 0 && rename(tmp, path) < 0)
		r = nk_error_set(err, errno, "cannot rename %s to %s: %s", tmp, path,
				 strerror(errno));
	if (r < 0)
		unlink(tmp);
	return r < 0 ? r : EXIT_OK;
}

int cmd_exporter(int argc, char **argv, nk_error **err)
{
	struct exporter_args a;
	struct exporter x = {.lock = PTHREAD_MUTEX_INITIALIZER};
	int r = parse_args(argc, argv, &a, err);
	if (r != 0)
		return r < 0 ? r : EXIT_OK;
	r = nk_host_open(a.root, &x.host, err);
	if (r < 0) {
		tool_mark_usage(); /* a bad --root is a bad command line, as everywhere */
		return r;
	}
	x.state.vm_refresh_s = a.vm_refresh_s;
	r = a.textfile ? write_textfile(&x, a.textfile, err) : serve(&x, &a, err);
	metrics_state_done(&x.state);
	nk_host_free(x.host);
	web_config_done(&x.web);
	free(x.cached_user);
	free(x.cached_password);
	return r;
}
