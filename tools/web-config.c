/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * exporter-toolkit's web configuration file, read with libyaml (the YAML
 * of a Prometheus site, anchors and all, without a parser of our own), and
 * bcrypt checked with libcrypt (libxcrypt) as htpasswd -B writes it.
 */
#include <crypt.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <numaksm/cleanup.h>
#include <yaml.h>

#include "web-config.h"

/* The scalar of `node`, or NULL. */
static const char *scalar(yaml_document_t *doc, yaml_node_t *node)
{
	return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value
						      : NULL;
}

static int read_pem(const char *config_path, const char *file, const char *key, char **ret,
		    nk_error **err)
{
	_cleanup_free_ char *copy = strdup(config_path), *path = NULL;
	if (!copy)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (file[0] == '/')
		path = strdup(file);
	else if (asprintf(&path, "%s/%s", dirname(copy), file) < 0)
		path = NULL;
	if (!path)
		return nk_error_set(err, ENOMEM, "out of memory");
	FILE *f = fopen(path, "re");
	if (!f)
		return nk_error_set(err, errno, "%s: %s %s: %s", config_path, key, path,
				    strerror(errno));
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while (out && (n = fread(chunk, 1, sizeof(chunk), f)) > 0 && len < (1 << 20))
		fwrite(chunk, 1, n, out);
	bool failed = ferror(f);
	fclose(f);
	if (!out || fclose(out) != 0 || failed) {
		free(buf);
		return nk_error_set(err, EIO, "%s: cannot read %s %s", config_path, key, path);
	}
	if (!strstr(buf, "-----BEGIN ")) {
		free(buf);
		return nk_error_set(err, EINVAL, "%s: %s %s is not PEM", config_path, key, path);
	}
	*ret = buf;
	return 0;
}

static int load_tls(const char *path, yaml_document_t *doc, yaml_node_t *map, struct web_config *c,
		    nk_error **err)
{
	const char *cert = NULL, *key = NULL;
	if (map->type != YAML_MAPPING_NODE)
		return nk_error_set(err, EINVAL, "%s: tls_server_config must be a mapping", path);
	c->tls_priorities = "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1";
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(doc, yaml_document_get_node(doc, p->key));
		const char *v = scalar(doc, yaml_document_get_node(doc, p->value));
		if (!k || !v)
			return nk_error_set(err, EINVAL,
					    "%s: tls_server_config: %s must be a string", path,
					    k ? k : "a key");
		if (!strcmp(k, "cert_file")) {
			cert = v;
		} else if (!strcmp(k, "key_file")) {
			key = v;
		} else if (!strcmp(k, "min_version")) {
			static const struct {
				const char *name, *priorities;
			} versions[] = {
			    {"TLS10", "NORMAL"},
			    {"TLS11", "NORMAL:-VERS-TLS1.0"},
			    {"TLS12", "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1"},
			    {"TLS13", "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-TLS1.2"},
			};
			size_t i = 0;
			while (i < 4 && strcmp(v, versions[i].name))
				i++;
			if (i == 4)
				return nk_error_set(err, EINVAL,
						    "%s: min_version '%s': one of TLS10, TLS11, "
						    "TLS12, TLS13",
						    path, v);
			c->tls_priorities = versions[i].priorities;
		} else if (!strcmp(k, "client_auth_type")) {
			if (strcmp(v, "NoClientCert"))
				return nk_error_set(
				    err, ENOTSUP,
				    "%s: client_auth_type '%s': this exporter does "
				    "not check client certificates (NoClientCert only)",
				    path, v);
		} else {
			return nk_error_set(err, EINVAL, "%s: tls_server_config: unknown key '%s'",
					    path, k);
		}
	}
	if (!cert || !key)
		return nk_error_set(err, EINVAL,
				    "%s: tls_server_config needs cert_file and key_file", path);
	int r = read_pem(path, cert, "cert_file", &c->cert_pem, err);
	if (r < 0)
		return r;
	return read_pem(path, key, "key_file", &c->key_pem, err);
}

static int load_users(const char *path, yaml_document_t *doc, yaml_node_t *map,
		      struct web_config *c, nk_error **err)
{
	if (map->type != YAML_MAPPING_NODE)
		return nk_error_set(err, EINVAL, "%s: basic_auth_users must be a mapping", path);
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	c->users = calloc(n ? n : 1, sizeof(*c->users));
	if (!c->users)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(doc, yaml_document_get_node(doc, p->key));
		const char *v = scalar(doc, yaml_document_get_node(doc, p->value));
		if (!k || !v || !*k)
			return nk_error_set(err, EINVAL,
					    "%s: basic_auth_users: a user and its "
					    "hash must be strings",
					    path);
		if (strncmp(v, "$2", 2) != 0 || strlen(v) != 60)
			return nk_error_set(
			    err, EINVAL,
			    "%s: basic_auth_users: %s's password is not a bcrypt hash "
			    "(make one with htpasswd -nBC 10 %s)",
			    path, k, k);
		c->users[c->n_users].name = strdup(k);
		c->users[c->n_users].hash = strdup(v);
		if (!c->users[c->n_users].name || !c->users[c->n_users].hash)
			return nk_error_set(err, ENOMEM, "out of memory");
		c->n_users++;
	}
	return 0;
}

int web_config_load(const char *path, struct web_config *ret, nk_error **err)
{
	struct web_config c = {0};
	yaml_parser_t parser;
	yaml_document_t doc;
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f) {
		nk_error_set(err, errno, "cannot read the web config %s: %s", path,
			     strerror(errno));
		return nk_error_hint(err, "give a readable file (exporter-toolkit's web "
					  "configuration format)");
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		r = nk_error_set(err, EINVAL, "%s: line %zu: %s", path,
				 parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		fclose(f);
		return r;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (root && root->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
		     r == 0 && p < root->data.mapping.pairs.top; p++) {
			const char *k = scalar(&doc, yaml_document_get_node(&doc, p->key));
			yaml_node_t *v = yaml_document_get_node(&doc, p->value);
			if (k && !strcmp(k, "tls_server_config"))
				r = load_tls(path, &doc, v, &c, err);
			else if (k && !strcmp(k, "basic_auth_users"))
				r = load_users(path, &doc, v, &c, err);
			else
				r = nk_error_set(err, EINVAL,
						 "%s: unknown key '%s' (tls_server_config and "
						 "basic_auth_users are read)",
						 path, k ? k : "?");
		}
	} else if (root && !(root->type == YAML_SCALAR_NODE && !*root->data.scalar.value)) {
		r = nk_error_set(err, EINVAL, "%s: expected a mapping of settings", path);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (r < 0) {
		web_config_done(&c);
		return r;
	}
	*ret = c;
	return 0;
}

void web_config_done(struct web_config *c)
{
	free(c->cert_pem);
	free(c->key_pem);
	for (size_t i = 0; i < c->n_users; i++) {
		free(c->users[i].name);
		free(c->users[i].hash);
	}
	free(c->users);
	*c = (struct web_config){0};
}

bool web_config_check(const struct web_config *c, const char *user, const char *password)
{
	/* An unknown user is checked against a hash all the same, so that the
	 * time taken does not tell which users exist. */
	static const char decoy[] = "$2b$10$abcdefghijklmnopqrstuuQ3bQGZtAr1Zm1q6Crm9AbG2ddQtVRtu";
	const char *hash = decoy;
	bool known = false;
	for (size_t i = 0; user && i < c->n_users; i++)
		if (!strcmp(c->users[i].name, user)) {
			hash = c->users[i].hash;
			known = true;
		}
	struct crypt_data data = {0};
	const char *out = crypt_r(password ? password : "", hash, &data);
	if (!out || strlen(out) != strlen(hash))
		return false;
	unsigned char diff = 0;
	for (size_t i = 0; hash[i]; i++)
		diff |= (unsigned char)(out[i] ^ hash[i]);
	return known && diff == 0;
}
