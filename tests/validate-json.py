#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Validate numaksm's JSON documents against docs/schema/, offline.

  validate-json.py [--schemas DIR] --check
      check every *.schema.json against its metaschema and resolve every $ref
  validate-json.py [--schemas DIR] [--lines] [--quiet] SCHEMA FILE|- ...
      validate each document against SCHEMA ("status", "numaksm-status",
      "numaksm-status.schema.json" or its $id); --lines: one document per line
      (status --watch, the error and log lines on stderr)
  validate-json.py [--schemas DIR] [--quiet] --framed FILE ...
      validate the documents framed in FILE, each under the schema its frame
      names (the NUMA lab's json-outputs test prints them on the console):
        @@JSON BEGIN SCHEMA doc|lines WHAT
        ...
        @@JSON END

Besides the schema, every number that is not an integer must be printed
with exactly six decimals and no exponent (docs/json.md), which a schema
cannot see once the text is parsed: it is checked on the text.  An
"integer" is a number printed without a fraction (8388608, not
8388608.000000), a value of a schema marked "x-six-decimals" (seconds,
ratios) is never printed as an integer, and NaN or Infinity is refused.

Every schema of DIR is registered under its $id, so "$ref":
"common.schema.json#/$defs/ksm" resolves to the sibling file without the
network.  Needs python3-jsonschema: 4.10 (Debian 12, RefResolver) or 4.18
and later (the referencing library).
Exit status: 0 all valid, 1 a document or a schema is not, 2 usage error.
"""
import argparse
import glob
import json
import os
import re
import sys

try:
    import jsonschema
    from jsonschema import validators
except ImportError:
    print("validate-json.py needs python3-jsonschema (scripts/setup installs it)",
          file=sys.stderr)
    sys.exit(2)

try:  # jsonschema >= 4.18 resolves $ref through the referencing library
    from referencing import Registry, Resource
except ImportError:  # jsonschema 4.10: RefResolver with a store
    Registry = None

SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "schema")
SIX_DECIMALS = re.compile(r"^-?[0-9]+\.[0-9]{6}$")


def load_schemas(directory):
    """{$id: schema} for every *.schema.json of directory."""
    store = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.schema.json"))):
        with open(path) as f:
            schema = json.load(f)
        sid = schema.get("$id")
        if not sid or sid in store:
            sys.exit(f"{path}: no $id, or one used twice")
        store[sid] = schema
    if not store:
        sys.exit(f"no *.schema.json in {directory}")
    return store


def find(store, name):
    for sid, schema in store.items():
        base = sid.rsplit("/", 1)[-1]
        if name in (sid, base, base[: -len(".schema.json")]) or \
                base == "numaksm-" + name.replace(" ", "-") + ".schema.json":
            return schema
    sys.exit(f"no schema named {name!r}; there are: "
             + ", ".join(s.rsplit("/", 1)[-1][: -len(".schema.json")] for s in store))


def make_resolver(store, schema):
    """(registry or None, something whose .resolve(ref) finds any schema of store)."""
    if Registry is not None:
        registry = Registry().with_resources(
            (sid, Resource.from_contents(s)) for sid, s in store.items())
        resolver = registry.resolver(base_uri=schema["$id"])
        return registry, type("R", (), {"resolve": staticmethod(resolver.lookup)})()
    return None, jsonschema.RefResolver(schema["$id"], schema, store=store)


def six_decimals(validator, wanted, instance, schema):
    """x-six-decimals: a seconds or ratio value printed as 0.000000, never 0."""
    if wanted and isinstance(instance, int) and not isinstance(instance, bool):
        yield jsonschema.ValidationError(
            f"{instance} is an integer where a number with six decimals belongs")


def strict(cls):
    """cls where an integer is a number printed without a fraction (draft
    2020-12 takes 4096.0 for one) and x-six-decimals is checked."""
    checker = cls.TYPE_CHECKER.redefine(
        "integer", lambda _, i: isinstance(i, int) and not isinstance(i, bool))
    return validators.extend(cls, validators={"x-six-decimals": six_decimals},
                             type_checker=checker)


def make_validator(store, schema):
    cls = strict(validators.validator_for(schema))
    registry, resolver = make_resolver(store, schema)
    if registry is not None:
        return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)
    return cls(schema, resolver=resolver, format_checker=cls.FORMAT_CHECKER)


def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def check_schemas(store):
    bad = 0
    for sid, schema in store.items():
        cls = validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as e:
            print(f"{sid}: invalid schema: {e.message} at {list(e.absolute_path)}")
            bad += 1
            continue
        _, resolver = make_resolver(store, schema)
        for ref in sorted(set(refs(schema))):
            try:
                resolver.resolve(ref)
            except Exception as e:  # noqa: BLE001 - any failure to resolve is the finding
                print(f"{sid}: cannot resolve {ref}: {str(e)[:200]}")
                bad += 1
    if not bad:
        print(f"{len(store)} schemas are valid and every $ref resolves")
    return bad


class Decimals:
    """json.loads' parse_float: remembers numbers not printed with six decimals."""

    def __init__(self):
        self.bad = []

    def __call__(self, text):
        if not SIX_DECIMALS.match(text):
            self.bad.append(text)
        return float(text)


def not_json(name):
    """json.loads' parse_constant: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not JSON")


def documents(path, lines):
    """(where, text) of each document of path."""
    text = sys.stdin.read() if path == "-" else open(path).read()
    if not lines:
        yield path, text
        return
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield f"{path}:{n}", line


def framed(path):
    """(schema, where, text) of each document framed in path; text None for
    a broken frame.  A line "@@JSON COUNT N" says how many frames there
    must be."""
    begin = re.compile(r"^@@JSON BEGIN (\S+) (doc|lines) (.*)$")
    current, body, frames, want = None, [], 0, None
    with open(path, errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            m = begin.match(line)
            if line.startswith("@@JSON COUNT "):
                want = (int(line.split()[2]), f"{path}:{n}")
            elif line.startswith("@@JSON BEGIN") and not m:
                yield "numaksm-log", f"{path}:{n} (a malformed frame: {line[:80]})", None
            elif m:
                if current:
                    yield current[0], f"{current[2]}: BEGIN before its END", None
                frames += 1
                current, body = (m.group(1), m.group(2) == "lines", f"{path}:{n} ({m.group(3)})"), []
            elif line == "@@JSON END" and current:
                schema, lines, where = current
                if lines:
                    for k, one in enumerate(body, 1):
                        if one.strip():
                            yield schema, f"{where} line {k}", one
                else:
                    yield schema, where, "\n".join(body)
                current = None
            elif current:
                body.append(line)
    if current:
        yield current[0], f"{current[2]}: the frame does not end", None
    if want and want[0] != frames:
        yield "numaksm-log", f"{want[1]}: {want[0]} frames printed, {frames} found", None


def check_document(v, name, where, text, quiet):
    """Print what is wrong with one document; @return whether it is valid."""
    if text is None:
        print(where)
        return False
    decimals = Decimals()
    try:
        doc = json.loads(text, parse_float=decimals, parse_constant=not_json)
    except ValueError as e:
        print(f"{where}: not JSON: {e}")
        return False
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    for e in errors[:20]:
        loc = "/".join(str(x) for x in e.absolute_path) or "(top)"
        print(f"{where}: {loc}: {e.message[:300]}")
    if len(errors) > 20:
        print(f"{where}: ... {len(errors) - 20} more")
    for number in decimals.bad:
        print(f"{where}: the number {number} is not printed with six decimals")
    if errors or decimals.bad:
        return False
    if not quiet:
        print(f"{where}: valid ({name})")
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--schemas", default=SCHEMAS)
    p.add_argument("--check", action="store_true", help="check the schemas themselves")
    p.add_argument("--lines", action="store_true", help="one JSON document per line")
    p.add_argument("--framed", action="store_true", help="documents framed by @@JSON lines")
    p.add_argument("--quiet", "-q", action="store_true", help="print only what is invalid")
    p.add_argument("schema", nargs="?")
    p.add_argument("files", nargs="*")
    a = p.parse_args()
    store = load_schemas(a.schemas)
    if a.check:
        return 1 if check_schemas(store) else 0
    if a.framed:
        files = ([a.schema] if a.schema else []) + a.files
        if not files:
            p.print_usage(sys.stderr)
            return 2
        validators_by_name, bad, count = {}, 0, 0
        for path in files:
            for schema_name, where, text in framed(path):
                if schema_name not in validators_by_name:
                    schema = find(store, schema_name)
                    validators_by_name[schema_name] = (
                        make_validator(store, schema), schema["$id"].rsplit("/", 1)[-1])
                v, name = validators_by_name[schema_name]
                count += 1
                bad += not check_document(v, name, where, text, a.quiet)
        print(f"{count - bad} of {count} framed documents valid, "
              f"against {len(validators_by_name)} schemas")
        return 1 if bad or count == 0 else 0
    if not a.schema or not a.files:
        p.print_usage(sys.stderr)
        return 2
    schema = find(store, a.schema)
    name = schema["$id"].rsplit("/", 1)[-1]
    v = make_validator(store, schema)
    bad = count = 0
    for path in a.files:
        for where, text in documents(path, a.lines):
            count += 1
            bad += not check_document(v, name, where, text, a.quiet)
    if count == 0:
        print(f"no document in {' '.join(a.files)}")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
