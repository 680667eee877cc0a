#!/usr/bin/env python3
"""Check the Grafana dashboards and the Prometheus rules against our rules and a live Prometheus.

Grafana is not installed here, so "the dashboards work" is checked by what can be checked without
it (python3 standard library only):

  static (always)
    every dashboards/*.json is valid JSON with a stable uid, a schemaVersion, a datasource
    variable named `datasource` of type prometheus and cluster/job/instance variables; every
    panel that queries has a unit, a description and the `${datasource}` datasource; every
    rate()/irate()/increase() over a range uses $__rate_interval; panel ids are unique.

  live (--prometheus URL)
    every panel expression, every variable query and every rule expression that Prometheus has
    loaded is run through /api/v1/query; the check fails when a query errors or a metric name it
    references has no series at all (/api/v1/label/__name__/values). Rules loaded in Prometheus
    must be exactly the rules in alerts/*.rules.yml, and none may report an evaluation error.

  scrape (--scrape URL, repeatable)
    `promtool check metrics` on the page; problems fail the check. --scrape-info URL does the
    same but only reports (for exporters that are not ours, such as HAProxy's).

Usage:
  scripts/check-dashboards.py                                  static checks only
  scripts/check-dashboards.py --prometheus http://127.0.0.1:19090 \\
      --scrape http://127.0.0.1:19201/metrics --scrape-info http://127.0.0.1:18404/metrics
Exit status 0 when everything passes, 1 otherwise; every problem is printed.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIRED_VARIABLES = ("datasource", "cluster", "job", "instance")
PANELS_WITHOUT_QUERIES = {"row", "text", "dashlist", "news", "alertlist"}

# Words in PromQL that are not metric names.
KEYWORDS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile", "by", "without", "on", "ignoring", "group_left", "group_right", "and",
    "or", "unless", "bool", "offset", "inf", "nan", "atan2", "start", "end",
}

# What Grafana would put in place of its variables when running a panel query.
SUBSTITUTIONS = [
    (r"\$__rate_interval|\$\{__rate_interval\}", "1m"),
    (r"\$__interval|\$\{__interval\}", "15s"),
    (r"\$__range|\$\{__range\}", "5m"),
    (r"\$\{?(cluster|job|instance|node|proxy)\}?", ".*"),
]


def substitute(expr):
    for pattern, value in SUBSTITUTIONS:
        expr = re.sub(pattern, value, expr)
    return expr


def metric_names(expr):
    """Metric names an expression references: identifiers that are not functions, keywords,
    label names, label values, durations or numbers."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+-?\w+", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)", e):
        word = m.group(1)
        after = e[m.end():].lstrip()
        if after.startswith("("):  # a function or an aggregation
            continue
        if word.lower() in KEYWORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def panels_of(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        for inner in panel.get("panels", []):  # collapsed rows keep their panels inside
            yield inner


class Checker:
    def __init__(self):
        self.problems = []
        self.notes = []

    def fail(self, where, what):
        self.problems.append(f"{where}: {what}")

    # --- static ---------------------------------------------------------------------------

    def check_dashboard(self, path):
        where = os.path.relpath(path, REPO)
        try:
            with open(path, encoding="utf-8") as f:
                dash = json.load(f)
        except (OSError, ValueError) as e:
            self.fail(where, f"not valid JSON: {e}")
            return []
        uid = dash.get("uid")
        if not isinstance(uid, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid or ""):
            self.fail(where, f"uid {uid!r} missing or not a stable Grafana uid (<= 40 chars of [a-zA-Z0-9_-])")
        if not isinstance(dash.get("schemaVersion"), int):
            self.fail(where, "schemaVersion missing")
        if dash.get("id") not in (None,):
            self.fail(where, "id must be null so the dashboard imports into any Grafana")
        if not dash.get("title"):
            self.fail(where, "title missing")
        variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
        for name in REQUIRED_VARIABLES:
            if name not in variables:
                self.fail(where, f"template variable ${name} missing")
        ds = variables.get("datasource")
        if ds and (ds.get("type") != "datasource" or ds.get("query") != "prometheus"):
            self.fail(where, "variable $datasource must be of type datasource with query prometheus")
        queries = []
        for name, var in variables.items():
            if var.get("type") != "query":
                continue
            if not self.uses_datasource_variable(var.get("datasource")):
                self.fail(where, f"variable ${name} does not use the ${{datasource}} variable")
            q = var.get("query")
            text = q.get("query") if isinstance(q, dict) else q
            if text:
                queries.append((f"{where}: variable ${name}", text, "variable"))
        ids = set()
        for panel in panels_of(dash):
            title = panel.get("title", "?")
            pwhere = f"{where}: panel {title!r}"
            pid = panel.get("id")
            if pid in ids:
                self.fail(pwhere, f"duplicate panel id {pid}")
            ids.add(pid)
            if panel.get("type") in PANELS_WITHOUT_QUERIES:
                continue
            if not panel.get("description"):
                self.fail(pwhere, "no description")
            defaults = panel.get("fieldConfig", {}).get("defaults", {})
            unit = defaults.get("unit")
            if not unit:
                self.fail(pwhere, "no unit (fieldConfig.defaults.unit)")
            # Grafana silently ignores these when their shapes are swapped.
            if not isinstance(defaults.get("mappings", []), list):
                self.fail(pwhere, "fieldConfig.defaults.mappings must be a list")
            if not isinstance(defaults.get("thresholds", {}), dict):
                self.fail(pwhere, "fieldConfig.defaults.thresholds must be an object with steps")
            if not self.uses_datasource_variable(panel.get("datasource")):
                self.fail(pwhere, "datasource is not ${datasource}")
            targets = panel.get("targets") or []
            if not targets:
                self.fail(pwhere, "no queries")
            for t in targets:
                expr = t.get("expr", "")
                if not expr:
                    self.fail(pwhere, f"target {t.get('refId')} has no expr")
                    continue
                if not self.uses_datasource_variable(t.get("datasource", panel.get("datasource"))):
                    self.fail(pwhere, f"target {t.get('refId')} datasource is not ${{datasource}}")
                for m in re.finditer(r"\b(rate|irate|increase)\s*\(", expr):
                    rng = re.match(r"[^\[]*\[([^\]]*)\]", expr[m.end():])
                    if not rng or rng.group(1).strip() != "$__rate_interval":
                        self.fail(pwhere, f"{m.group(1)}() without [$__rate_interval]: {expr}")
                queries.append((f"{pwhere} {t.get('refId', '')}", expr, "panel"))
        return queries

    @staticmethod
    def uses_datasource_variable(ds):
        if isinstance(ds, dict):
            return ds.get("uid") in ("${datasource}", "$datasource")
        return ds in ("${datasource}", "$datasource")

    # --- live -----------------------------------------------------------------------------

    def get(self, base, path, params=None):
        url = base.rstrip("/") + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            try:
                return json.load(e)
            except ValueError:
                return {"status": "error", "error": f"HTTP {e.code}"}
        except (urllib.error.URLError, OSError, ValueError) as e:
            return {"status": "error", "error": str(e)}

    def check_live(self, prom, queries):
        names = self.get(prom, "/api/v1/label/__name__/values")
        if names.get("status") != "success":
            self.fail(prom, f"cannot list metric names: {names.get('error')}")
            return
        existing = set(names["data"])
        rules = self.get(prom, "/api/v1/rules")
        if rules.get("status") != "success":
            self.fail(prom, f"cannot list rules: {rules.get('error')}")
            return
        loaded = set()
        for group in rules["data"]["groups"]:
            for rule in group["rules"]:
                loaded.add(rule["name"])
                kind = "alert" if rule["type"] == "alerting" else "record"
                where = f"rule {group['name']}/{rule['name']}"
                if rule.get("health") not in ("ok", "unknown"):
                    self.fail(where, f"evaluation health {rule.get('health')}: {rule.get('lastError')}")
                queries.append((where, rule["query"], kind))
        in_files = set()
        for path in glob.glob(os.path.join(REPO, "alerts", "*.rules.yml")):
            with open(path, encoding="utf-8") as f:
                in_files |= set(re.findall(r"(?m)^\s*- (?:alert|record): *(\S+)", f.read()))
        for name in sorted(in_files - loaded):
            self.fail(prom, f"rule {name} from alerts/ is not loaded in this Prometheus")
        for name in sorted(loaded - in_files):
            self.fail(prom, f"rule {name} is loaded but not in alerts/ (stale rules?)")

        counts = {"panel": 0, "variable": 0, "alert": 0, "record": 0}
        empty = []
        for where, expr, kind in queries:
            counts[kind] += 1
            if kind == "variable":
                # Grafana's label_values(METRIC{...}, LABEL): the metric must have the label.
                m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", expr, re.S)
                if not m:
                    self.fail(where, f"unsupported variable query {expr!r} (use label_values)")
                    continue
                selector, label = substitute(m.group(1)), m.group(2)
                for name in metric_names(selector):
                    if name not in existing:
                        self.fail(where, f"metric {name} has no series")
                series = self.get(prom, "/api/v1/series", {"match[]": selector})
                if series.get("status") != "success":
                    self.fail(where, f"query error: {series.get('error')}")
                elif not any(label in s for s in series["data"]):
                    self.fail(where, f"no series of {selector} has label {label}")
                continue
            q = substitute(expr)
            for name in sorted(metric_names(q)):
                if name not in existing:
                    self.fail(where, f"metric {name} has no series in Prometheus")
            answer = self.get(prom, "/api/v1/query", {"query": q})
            if answer.get("status") != "success":
                self.fail(where, f"query error: {answer.get('error')}: {q}")
            elif kind == "panel" and not answer["data"]["result"]:
                empty.append(where)
        self.notes.append(
            f"ran {counts['panel']} panel queries, {counts['variable']} variable queries, "
            f"{counts['alert']} alert and {counts['record']} recording rule expressions against {prom}")
        for where in empty:
            self.notes.append(f"empty result (may be fine when nothing is wrong): {where}")

    # --- scrape ---------------------------------------------------------------------------

    def check_scrape(self, url, strict):
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                page = r.read()
        except (urllib.error.URLError, OSError) as e:
            self.fail(url, f"cannot scrape: {e}")
            return
        try:
            result = subprocess.run(["promtool", "check", "metrics"], input=page,
                                    capture_output=True, timeout=30)
        except FileNotFoundError:
            self.fail(url, "promtool not found (Debian package prometheus)")
            return
        out = (result.stdout + result.stderr).decode(errors="replace").strip()
        if result.returncode == 0 and not out:
            self.notes.append(f"promtool check metrics {url}: no problems")
        elif strict:
            self.fail(url, f"promtool check metrics:\n    " + out.replace("\n", "\n    "))
        else:
            lines = out.splitlines()
            self.notes.append(f"promtool check metrics {url} (not ours, reported only): "
                              f"{len(lines)} finding(s), e.g. {lines[0] if lines else ''}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prometheus", metavar="URL", help="run every query against this Prometheus")
    parser.add_argument("--scrape", metavar="URL", action="append", default=[],
                        help="lint this /metrics page with promtool check metrics (problems fail)")
    parser.add_argument("--scrape-info", metavar="URL", action="append", default=[],
                        help="lint this /metrics page, report only")
    parser.add_argument("dashboards", nargs="*", help="default: dashboards/*.json")
    args = parser.parse_args()

    checker = Checker()
    paths = args.dashboards or sorted(glob.glob(os.path.join(REPO, "dashboards", "*.json")))
    if not paths:
        checker.fail("dashboards/", "no dashboard JSON found")
    queries = []
    for path in paths:
        queries += checker.check_dashboard(path)
    checker.notes.append(f"checked {len(paths)} dashboard(s) statically")
    if args.prometheus:
        checker.check_live(args.prometheus, queries)
    for url in args.scrape:
        checker.check_scrape(url, strict=True)
    for url in args.scrape_info:
        checker.check_scrape(url, strict=False)

    for note in checker.notes:
        print(f"check-dashboards: {note}")
    for problem in checker.problems:
        print(f"check-dashboards: PROBLEM: {problem}", file=sys.stderr)
    if checker.problems:
        print(f"check-dashboards: FAILED: {len(checker.problems)} problem(s)", file=sys.stderr)
        return 1
    print("check-dashboards: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
