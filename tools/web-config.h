/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The web configuration file of Prometheus exporters (exporter-toolkit's
 * --web.config.file): TLS and basic authentication, so that a site
 * configures numaksm's exporter as it does node_exporter.  What it holds:
 *
 *   tls_server_config:
 *     cert_file: server.crt      # PEM; both or neither
 *     key_file: server.key
 *     min_version: TLS12         # TLS10..TLS13 (default TLS12)
 *   basic_auth_users:
 *     alice: $2y$10$...          # bcrypt hashes (htpasswd -nBC 10 alice)
 *
 * Unknown keys are refused (as exporter-toolkit does), and so are client
 * certificates (client_auth_type other than NoClientCert), which this
 * exporter does not check.
 */
#ifndef NUMAKSM_TOOL_WEB_CONFIG_H
#define NUMAKSM_TOOL_WEB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <numaksm/core.h>

struct web_user {
	char *name;
	char *hash; /* bcrypt */
};

struct web_config {
	char *cert_pem, *key_pem;   /* the files' contents; NULL: no TLS */
	const char *tls_priorities; /* GnuTLS priority string for min_version */
	struct web_user *users;
	size_t n_users;
};

/* Read and check `path`; a relative cert_file/key_file is relative to the
 * file's directory.  @return 0; a negative errno with *err naming the file
 * and key. */
int web_config_load(const char *path, struct web_config *ret, nk_error **err);
void web_config_done(struct web_config *config);

/* Whether `user` with `password` is one of the users (bcrypt; a user not
 * listed costs the same time as one listed). */
bool web_config_check(const struct web_config *config, const char *user, const char *password);

#endif
