#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""dist/prometheus/numaksm-dashboard.json: valid JSON of a Grafana dashboard
whose every query parses (each becomes a recording rule that `promtool
check rules` must accept, the dashboard variables replaced) and names only
metrics the exporter writes.

Usage: check-dashboard.py PROMTOOL NUMAKSM FIXTURE-DIR SOURCE-DIR
"""
import json
import re
import subprocess
import sys
import tempfile

promtool, numaksm, fixture, source = sys.argv[1:5]
dash = json.load(open(f"{source}/dist/prometheus/numaksm-dashboard.json"))
exprs = []
for panel in dash["panels"]:
    assert panel.get("title") and panel.get("gridPos"), panel
    assert panel["targets"], f"panel '{panel['title']}' has no query"
    for target in panel["targets"]:
        exprs.append((panel["title"], target["expr"]))
for var in dash["templating"]["list"]:
    if var["type"] == "query":
        exprs.append((f"variable {var['name']}",
                      re.sub(r"label_values\((\w+), *\w+\)", r"\1", var["query"]["query"])))

# Every query parses: as recording rules, with $instance as a regex.
with tempfile.NamedTemporaryFile("w", suffix=".yml") as rules:
    rules.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (_, expr) in enumerate(exprs):
        expr = expr.replace("$instance", ".*")
        rules.write(f"      - record: numaksm:dashboard:query{i}\n        expr: {json.dumps(expr)}\n")
    rules.flush()
    r = subprocess.run([promtool, "check", "rules", rules.name], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

# Every metric is one the exporter writes: the families in tools/metrics.c,
# and the KSM files of a captured host's exposition.
known = set(re.findall(r'"(numaksm_[a-z0-9_]+)"', open(f"{source}/tools/metrics.c").read()))
with tempfile.TemporaryDirectory() as t:
    r = subprocess.run([numaksm, "exporter", "--root", fixture, "--textfile", f"{t}/m.prom"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    known |= set(re.findall(r"^# TYPE (\S+)", open(f"{t}/m.prom").read(), re.M))
for title, expr in exprs:
    for name in re.findall(r"\bnumaksm_[a-z0-9_]+", expr):
        assert name in known, f"'{title}': {name} is not a metric of the exporter"
print(f"dashboard: {len(dash['panels'])} panels, {len(exprs)} queries parse and name the "
      f"exporter's metrics")
