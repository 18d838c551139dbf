/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A vCPU plan in libvirt's domain XML (libvirt.h): built once as libxml2
 * elements, printed as fragments or merged into a domain's XML.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <numaksm/cleanup.h>
#include <numaksm/vcpu.h>

#include "libvirt.h"
#include "tool.h"

int tool_libvirt_layout(const nk_pin_plan *plan, uint64_t memory_kib, uint64_t page_kib,
			struct tool_libvirt_layout *ret, nk_error **err)
{
	struct tool_libvirt_layout l = {.plan = plan, .page_kib = page_kib};
	unsigned n = nk_pin_plan_vcpu_count(plan);
	uint64_t unit = page_kib ? page_kib : 4, given = 0;
	int r = -ENOMEM;

	for (unsigned i = 0; i < n; i++) {
		struct nk_pin_vcpu v;
		nk_pin_plan_vcpu(plan, i, &v);
		if (v.guest_node + 1 > l.n_cells)
			l.n_cells = v.guest_node + 1;
	}
	l.cells = calloc(l.n_cells, sizeof(*l.cells));
	l.memory_nodes = nk_bitmap_new();
	if (!l.cells || !l.memory_nodes)
		goto fail;
	for (size_t c = 0; c < l.n_cells; c++) {
		l.cells[c].memory_node = -1;
		if (!(l.cells[c].vcpus = nk_bitmap_new()))
			goto fail;
	}
	for (unsigned i = 0; i < n; i++) {
		struct nk_pin_vcpu v;
		struct tool_libvirt_cell *cell;
		nk_pin_plan_vcpu(plan, i, &v);
		cell = &l.cells[v.guest_node];
		if (nk_bitmap_set(cell->vcpus, i) < 0)
			goto fail;
		/* Memory the planner left free: beside the guest node's vCPUs. */
		if (cell->memory_node < 0)
			cell->memory_node = v.memory_node >= 0 ? v.memory_node : v.host_node;
	}
	for (size_t c = 0; c < l.n_cells; c++) {
		struct tool_libvirt_cell *cell = &l.cells[c];
		if (cell->memory_node >= 0 &&
		    nk_bitmap_set(l.memory_nodes, (unsigned)cell->memory_node) < 0)
			goto fail;
		if (!memory_kib)
			continue;
		/* A share by vCPUs, in whole pages; the last cell takes the rest. */
		if (c + 1 < l.n_cells)
			cell->memory_kib =
			    memory_kib / unit * nk_bitmap_weight(cell->vcpus) / n * unit;
		else
			cell->memory_kib = (memory_kib - given) / unit * unit;
		given += cell->memory_kib;
		if (!cell->memory_kib) {
			char a[32], b[32], least[32];
			r = nk_error_set(
			    err, EINVAL,
			    "%s of memory gives guest node %zu no %s page: %zu guest "
			    "nodes need at least %s",
			    nk_format_bytes(a, sizeof(a), memory_kib * 1024), c,
			    nk_format_bytes(b, sizeof(b), unit * 1024), l.n_cells,
			    nk_format_bytes(least, sizeof(least), unit * 1024 * l.n_cells));
			goto fail;
		}
	}
	*ret = l;
	return 0;
fail:
	if (r == -ENOMEM)
		nk_error_set(err, ENOMEM, "out of memory");
	tool_libvirt_layout_done(&l);
	return r;
}

void tool_libvirt_layout_done(struct tool_libvirt_layout *l)
{
	for (size_t c = 0; l->cells && c < l->n_cells; c++)
		nk_bitmap_free(l->cells[c].vcpus);
	free(l->cells);
	nk_bitmap_free(l->memory_nodes);
	*l = (struct tool_libvirt_layout){0};
}

/* ---- building elements ----------------------------------------------- */

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n = xmlNewChild(parent, NULL, BAD_CAST name, NULL);
	if (!n)
		abort(); /* libxml2 fails only when out of memory */
	return n;
}

static void set_attr(xmlNodePtr node, const char *name, const char *value)
{
	if (!xmlSetProp(node, BAD_CAST name, BAD_CAST value))
		abort();
}

static void set_attr_u64(xmlNodePtr node, const char *name, uint64_t value)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	set_attr(node, name, buf);
}

static void set_attr_list(xmlNodePtr node, const char *name, const nk_bitmap *set)
{
	_cleanup_free_ char *s = tool_list_text(set);
	set_attr(node, name, s);
}

static void set_text_u64(xmlNodePtr node, uint64_t value)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	xmlNodeSetContent(node, BAD_CAST buf);
}

static void add_vcpupins(xmlNodePtr cputune, const struct tool_libvirt_layout *l)
{
	for (unsigned i = 0; i < nk_pin_plan_vcpu_count(l->plan); i++) {
		struct nk_pin_vcpu v;
		nk_pin_plan_vcpu(l->plan, i, &v);
		xmlNodePtr pin = child(cputune, "vcpupin");
		set_attr_u64(pin, "vcpu", i);
		set_attr_list(pin, "cpuset", v.cpus);
	}
	set_attr_list(child(cputune, "emulatorpin"), "cpuset", nk_pin_plan_emulator_cpus(l->plan));
}

static void add_numatune(xmlNodePtr numatune, const struct tool_libvirt_layout *l)
{
	xmlNodePtr mem = child(numatune, "memory");
	set_attr(mem, "mode", "strict");
	set_attr_list(mem, "nodeset", l->memory_nodes);
	/* Per cell only where there are cells (<cpu><numa>): libvirt refuses
	 * a memnode of a cell the guest does not have. */
	for (size_t c = 0; l->cells[0].memory_kib && c < l->n_cells; c++) {
		xmlNodePtr node = child(numatune, "memnode");
		set_attr_u64(node, "cellid", c);
		set_attr(node, "mode", "strict");
		set_attr_u64(node, "nodeset", (uint64_t)l->cells[c].memory_node);
	}
}

static void set_cell(xmlNodePtr cell, size_t c, const struct tool_libvirt_layout *l)
{
	set_attr_u64(cell, "id", c);
	set_attr_list(cell, "cpus", l->cells[c].vcpus);
	set_attr_u64(cell, "memory", l->cells[c].memory_kib);
	set_attr(cell, "unit", "KiB");
}

static void add_hugepages(xmlNodePtr hugepages, const struct tool_libvirt_layout *l)
{
	xmlNodePtr page = child(hugepages, "page");
	set_attr_u64(page, "size", l->page_kib);
	set_attr(page, "unit", "KiB");
	/* nodeset here names guest cells, not host nodes. */
	if (l->cells[0].memory_kib) {
		char cells[32];
		snprintf(cells, sizeof(cells), l->n_cells > 1 ? "0-%zu" : "0", l->n_cells - 1);
		set_attr(page, "nodeset", cells);
	}
}

/* ---- printing --------------------------------------------------------- */

static void print_element(xmlNodePtr node)
{
	xmlBufferPtr buf = xmlBufferCreate();
	if (!buf || xmlNodeDump(buf, node->doc, node, 0, 1) < 0)
		abort();
	printf("%s\n", (const char *)xmlBufferContent(buf));
	xmlBufferFree(buf);
}

int tool_libvirt_print_xml(const struct tool_libvirt_layout *l, nk_error **err)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr domain = xmlNewNode(NULL, BAD_CAST "domain");
	if (!doc || !domain)
		abort();
	xmlDocSetRootElement(doc, domain);
	int r = tool_libvirt_merge(doc, l, err);
	if (r >= 0) {
		printf("<!-- numaksm pin plan: %u vCPUs, %s; the elements of a libvirt domain "
		       "(virsh edit), or 'numaksm libvirt apply DOMAIN' -->\n",
		       nk_pin_plan_vcpu_count(l->plan),
		       nk_pin_policy_name(nk_pin_plan_policy(l->plan)));
		for (char *const *note = nk_pin_plan_notes(l->plan); note && *note; note++) {
			/* "--" may not appear in an XML comment. */
			fputs("<!-- note: ", stdout);
			for (const char *c = *note; *c; c++)
				putchar(c[0] == '-' && c[1] == '-' ? '=' : c[0]);
			puts(" -->");
		}
		for (xmlNodePtr n = domain->children; n; n = n->next)
			if (n->type == XML_ELEMENT_NODE)
				print_element(n);
	}
	xmlFreeDoc(doc);
	return r;
}

/* A word the shell reads back unchanged. */
static void print_shell_word(const char *s)
{
	if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/@+"
			    "=") == strlen(s)) {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	putchar('\'');
}

void tool_libvirt_print_virsh(const struct tool_libvirt_layout *l, const char *domain)
{
	_cleanup_free_ char *emulator = tool_list_text(nk_pin_plan_emulator_cpus(l->plan));
	_cleanup_free_ char *nodes = tool_list_text(l->memory_nodes);

	for (char *const *note = nk_pin_plan_notes(l->plan); note && *note; note++)
		printf("# note: %s\n", *note);
	for (unsigned i = 0; i < nk_pin_plan_vcpu_count(l->plan); i++) {
		struct nk_pin_vcpu v;
		nk_pin_plan_vcpu(l->plan, i, &v);
		_cleanup_free_ char *cpus = tool_list_text(v.cpus);
		fputs("virsh vcpupin ", stdout);
		print_shell_word(domain);
		printf(" %u %s --live\n", i, cpus);
	}
	fputs("virsh emulatorpin ", stdout);
	print_shell_word(domain);
	printf(" %s --live\n", emulator);
	/* The mode and the per-cell nodes of a running guest cannot change:
	 * only its memory's node set (libvirt migrates the pages). */
	fputs("virsh numatune ", stdout);
	print_shell_word(domain);
	printf(" --nodeset %s --live\n", nodes);
}

/* ---- merging ----------------------------------------------------------- */

static bool named(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST name) == 0;
}

static xmlNodePtr find_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr n = parent->children; n; n = n->next)
		if (named(n, name))
			return n;
	return NULL;
}

static xmlNodePtr find_or_add(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n = find_child(parent, name);
	return n ? n : child(parent, name);
}

/* Drop the children named `a` or `b` (NULL: only `a`). */
static void drop_children(xmlNodePtr parent, const char *a, const char *b)
{
	xmlNodePtr next;
	for (xmlNodePtr n = parent->children; n; n = next) {
		next = n->next;
		if (named(n, a) || (b && named(n, b))) {
			xmlUnlinkNode(n);
			xmlFreeNode(n);
		}
	}
}

static bool attr_u64(xmlNodePtr n, const char *name, uint64_t *ret)
{
	_cleanup_free_ char *v = (char *)xmlGetProp(n, BAD_CAST name);
	return v && nk_parse_u64(v, ret, NULL) == 0;
}

/* The cells: those the domain has keep their other attributes and
 * children (memAccess, distances); extra ones go. */
static void merge_cells(xmlNodePtr cpu, const struct tool_libvirt_layout *l)
{
	xmlNodePtr numa = find_or_add(cpu, "numa"), next;
	xmlNodePtr *have = calloc(l->n_cells, sizeof(*have));
	if (!have)
		abort();
	for (xmlNodePtr n = numa->children; n; n = next) {
		uint64_t id;
		next = n->next;
		if (!named(n, "cell"))
			continue;
		if (attr_u64(n, "id", &id) && id < l->n_cells && !have[id]) {
			have[id] = n;
		} else {
			xmlUnlinkNode(n);
			xmlFreeNode(n);
		}
	}
	for (size_t c = 0; c < l->n_cells; c++)
		set_cell(have[c] ? have[c] : child(numa, "cell"), c, l);
	free(have);
}

int tool_libvirt_merge(xmlDocPtr doc, const struct tool_libvirt_layout *l, nk_error **err)
{
	xmlNodePtr domain = xmlDocGetRootElement(doc);
	if (!domain || !named(domain, "domain"))
		return nk_error_set(err, EINVAL, "the domain XML has no <domain> element");

	xmlNodePtr vcpu = find_or_add(domain, "vcpu");
	set_text_u64(vcpu, nk_pin_plan_vcpu_count(l->plan));
	/* The plan pins every vCPU: no default cpuset, and all of them online. */
	xmlUnsetProp(vcpu, BAD_CAST "cpuset");
	xmlUnsetProp(vcpu, BAD_CAST "current");
	set_attr(vcpu, "placement", "static");

	xmlNodePtr cputune = find_or_add(domain, "cputune");
	drop_children(cputune, "vcpupin", "emulatorpin");
	add_vcpupins(cputune, l);

	xmlNodePtr numatune = find_or_add(domain, "numatune");
	drop_children(numatune, "memory", "memnode");
	add_numatune(numatune, l);

	if (l->cells[0].memory_kib) {
		uint64_t total = 0;
		merge_cells(find_or_add(domain, "cpu"), l);
		/* libvirt takes the guest's memory from its cells. */
		for (size_t c = 0; c < l->n_cells; c++)
			total += l->cells[c].memory_kib;
		for (const char *name = "memory"; name;
		     name = strcmp(name, "memory") == 0 ? "currentMemory" : NULL) {
			xmlNodePtr m = strcmp(name, "memory") == 0 ? find_or_add(domain, name)
								   : find_child(domain, name);
			if (!m)
				continue;
			set_text_u64(m, total);
			set_attr(m, "unit", "KiB");
		}
	}
	if (l->page_kib) {
		xmlNodePtr hugepages =
		    find_or_add(find_or_add(domain, "memoryBacking"), "hugepages");
		drop_children(hugepages, "page", NULL);
		add_hugepages(hugepages, l);
	}
	return 0;
}

uint64_t tool_libvirt_memory_kib(xmlDocPtr doc)
{
	static const struct {
		const char *unit;
		uint64_t bytes;
	} units[] = {
	    {"b", 1},		{"bytes", 1},	     {"KB", 1000},     {"k", 1024},
	    {"KiB", 1024},	{"MB", 1000000},     {"M", 1 << 20},   {"MiB", 1 << 20},
	    {"GB", 1000000000}, {"G", 1 << 30},	     {"GiB", 1 << 30}, {"TB", 1000000000000ULL},
	    {"T", 1ULL << 40},	{"TiB", 1ULL << 40},
	};
	xmlNodePtr domain = xmlDocGetRootElement(doc);
	xmlNodePtr m = domain ? find_child(domain, "memory") : NULL;
	uint64_t value, bytes = 1024;
	if (!m)
		return 0;
	_cleanup_free_ char *text = (char *)xmlNodeGetContent(m);
	_cleanup_free_ char *unit = (char *)xmlGetProp(m, BAD_CAST "unit");
	if (!text || nk_parse_u64(text, &value, NULL) < 0)
		return 0;
	if (unit) {
		bytes = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(unit, units[i].unit) == 0)
				bytes = units[i].bytes;
	}
	if (!bytes || value > UINT64_MAX / bytes)
		return 0;
	return value * bytes / 1024;
}

int tool_libvirt_pins(xmlDocPtr doc, nk_bitmap ***ret_vcpus, size_t *ret_n,
		      nk_bitmap **ret_emulator)
{
	xmlNodePtr domain = xmlDocGetRootElement(doc);
	xmlNodePtr cputune = domain ? find_child(domain, "cputune") : NULL;
	nk_bitmap **vcpus = NULL, *emulator = NULL;
	size_t n = 0;

	for (xmlNodePtr pin = cputune ? cputune->children : NULL; pin; pin = pin->next) {
		uint64_t vcpu = 0;
		bool is_emulator = named(pin, "emulatorpin");
		if (!is_emulator &&
		    (!named(pin, "vcpupin") || !attr_u64(pin, "vcpu", &vcpu) || vcpu >= 4096))
			continue;
		_cleanup_free_ char *cpuset = (char *)xmlGetProp(pin, BAD_CAST "cpuset");
		nk_bitmap *set = NULL;
		/* libvirt's "^N" exclusions are not a plain list: not read. */
		if (!cpuset || nk_parse_list(cpuset, "CPU list", &set, NULL) < 0)
			continue;
		if (is_emulator) {
			nk_bitmap_free(emulator);
			emulator = set;
			continue;
		}
		if (vcpu >= n) {
			nk_bitmap **more = realloc(vcpus, (vcpu + 1) * sizeof(*vcpus));
			if (!more) {
				nk_bitmap_free(set);
				tool_libvirt_pins_free(vcpus, n, emulator);
				return -ENOMEM;
			}
			memset(more + n, 0, (vcpu + 1 - n) * sizeof(*more));
			vcpus = more;
			n = vcpu + 1;
		}
		nk_bitmap_free(vcpus[vcpu]);
		vcpus[vcpu] = set;
	}
	*ret_vcpus = vcpus;
	*ret_n = n;
	*ret_emulator = emulator;
	return 0;
}

void tool_libvirt_pins_free(nk_bitmap **vcpus, size_t n, nk_bitmap *emulator)
{
	for (size_t i = 0; i < n; i++)
		nk_bitmap_free(vcpus[i]);
	free(vcpus);
	nk_bitmap_free(emulator);
}
