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
    every dashboard variable is resolved the way Grafana resolves it: its label_values() query
    runs with the variables before it substituted, and must yield at least one value; panels
    then run with every variable replaced by the regex of all its real values (what Grafana
    sends with several values selected), not `.*`. Every panel expression, variable query and
    rule expression that Prometheus has loaded is run through /api/v1/query; the check fails when
    a query errors, when a vector selector -- the metric name WITH its label matchers, e.g.
    `up{job="haproxy"}` -- matches no series, or when a panel returns nothing, unless its
    description says "Empty on a healthy cluster" (the panels that show only trouble). Rules
    loaded in Prometheus must be exactly the rules in alerts/*.rules.yml, and none may report
    an evaluation error.

  healthy (--healthy, with --prometheus pointed at a Prometheus scraping a healthy cluster)
    no alert of severity warning or critical may be pending or firing (pending counts: its
    expression is true and only `for:` keeps it from firing), a panel documented as empty on a
    healthy cluster must be empty, and every other panel must have data. Names and selectors that
    match nothing are not checked here: on a healthy cluster the series of trouble do not exist.

  scrape (--scrape URL, repeatable)
    `promtool check metrics` on the page; problems fail the check. --scrape-info URL does the
    same but only reports (for exporters that are not ours, such as HAProxy's).

Usage:
  scripts/check-dashboards.py                                  static checks only
  scripts/check-dashboards.py --prometheus URL --healthy       the healthy-cluster checks
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

# What Grafana puts in place of its built-in variables when running a panel query.
SUBSTITUTIONS = [
    (r"\$__rate_interval|\$\{__rate_interval\}", "1m"),
    (r"\$__interval|\$\{__interval\}", "15s"),
    (r"\$__range|\$\{__range\}", "5m"),
]

# A panel whose description contains this (case-insensitive) shows only trouble: empty is its
# healthy state. Any other panel must have data.
EMPTY_WHEN_HEALTHY = "empty on a healthy cluster"


def substitute(expr, values=None):
    """Grafana's built-in variables, then the dashboard's variables (`values`: name -> list of
    real values), each as Grafana formats several selected values for Prometheus: `(a|b)` with
    regex metacharacters escaped (and the backslashes doubled for the PromQL string)."""
    for pattern, value in SUBSTITUTIONS:
        expr = re.sub(pattern, value, expr)
    for name, vals in (values or {}).items():
        regex = "(" + "|".join(re.escape(v) for v in vals) + ")"
        promql = regex.replace("\\", "\\\\")
        expr = re.sub(r"\$\{" + name + r"(?::\w+)?\}|\$" + name + r"\b", lambda _m: promql, expr)
    return expr


def empty_targets(panel):
    """The refIds of the panel's queries documented as empty on a healthy cluster: all of them
    when its description says "Empty on a healthy cluster", only B and C when it says "...
    (queries B, C) are empty on a healthy cluster"."""
    text = (panel.get("description") or "").lower()
    if EMPTY_WHEN_HEALTHY not in text:
        return set()
    m = re.search(r"\(quer(?:y|ies) ([a-z](?:,\s*[a-z])*)\)[^.]*" + EMPTY_WHEN_HEALTHY, text)
    if m:
        return {r.strip().upper() for r in m.group(1).split(",")}
    return {t.get("refId") for t in panel.get("targets") or []}


def unresolved_variable(expr):
    m = re.search(r"\$\{?[A-Za-z_]\w*", expr)
    return m.group(0) if m else None


def split_matchers(expr):
    """Replace every {...} matcher block (quotes respected) by a placeholder {#N}; returns the
    new expression and the list of blocks."""
    out, blocks, i = [], [], 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'`":
            j = i + 1
            while j < len(expr) and expr[j] != c:
                j += 2 if expr[j] == "\\" and c != "`" else 1
            out.append(expr[i:j + 1])
            i = j + 1
        elif c == "{":
            j, quote = i + 1, None
            while j < len(expr):
                ch = expr[j]
                if quote:
                    if ch == "\\":
                        j += 1
                    elif ch == quote:
                        quote = None
                elif ch in "\"'`":
                    quote = ch
                elif ch == "}":
                    break
                j += 1
            out.append("{#%d}" % len(blocks))
            blocks.append(expr[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), blocks


def selectors(expr):
    """The vector selectors of an expression, each a metric name with its label matchers as
    written (`up{job="haproxy"}`), or a bare matcher block (`{__name__=~"..."}`)."""
    e, blocks = split_matchers(expr)
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', e)  # strings
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+-?\w+", " ", e)
    found = []
    for m in re.finditer(r"(?<![\w:.#])([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(\{#(\d+)\})?", e):
        word, block = m.group(1), m.group(3)
        if not word and block is None:
            continue
        if word:
            after = e[m.end():].lstrip()
            if block is None and after.startswith("("):  # a function or an aggregation
                continue
            if word.lower() in KEYWORDS or re.fullmatch(r"\d+[smhdwy]", word):
                if block is None:
                    continue
                word = None
        found.append((word or "") + (blocks[int(block)] if block is not None else ""))
    return found


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
        # dashboard -> [(variable name, label_values query)], in the order Grafana resolves them
        self.variables = {}

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
        self.variables[where] = []
        for name, var in variables.items():
            if var.get("type") != "query":
                continue
            if not self.uses_datasource_variable(var.get("datasource")):
                self.fail(where, f"variable ${name} does not use the ${{datasource}} variable")
            q = var.get("query")
            text = q.get("query") if isinstance(q, dict) else q
            if text:
                self.variables[where].append((name, text))
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
                empty_ok = t.get("refId") in empty_targets(panel)
                queries.append((f"{pwhere} {t.get('refId', '')}", expr, "panel", where, empty_ok))
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

    def resolve_variables(self, prom, dashboard):
        """The real values of the dashboard's query variables, resolved in order as Grafana does
        (each query sees the values of the variables before it)."""
        values = {}
        for name, query in self.variables.get(dashboard, []):
            where = f"{dashboard}: variable ${name}"
            # Grafana's label_values(METRIC{...}, LABEL).
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query, re.S)
            if not m:
                self.fail(where, f"unsupported variable query {query!r} (use label_values)")
                continue
            selector, label = substitute(m.group(1), values), m.group(2)
            left = unresolved_variable(selector)
            if left:
                self.fail(where, f"{left} is not a variable defined before ${name}")
                continue
            series = self.get(prom, "/api/v1/series", {"match[]": selector})
            if series.get("status") != "success":
                self.fail(where, f"query error: {series.get('error')}: {selector}")
                continue
            found = sorted({s[label] for s in series["data"] if label in s})
            if not found:
                self.fail(where, f"no value: no series of {selector} has label {label}")
                continue
            values[name] = found
            self.notes.append(f"{where} = {found}")
        return values

    def check_live(self, prom, queries, healthy=False):
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
                queries.append((where, rule["query"], kind, None, False))
        in_files = set()
        for path in glob.glob(os.path.join(REPO, "alerts", "*.rules.yml")):
            with open(path, encoding="utf-8") as f:
                in_files |= set(re.findall(r"(?m)^\s*- (?:alert|record): *(\S+)", f.read()))
        for name in sorted(in_files - loaded):
            self.fail(prom, f"rule {name} from alerts/ is not loaded in this Prometheus")
        for name in sorted(loaded - in_files):
            self.fail(prom, f"rule {name} is loaded but not in alerts/ (stale rules?)")

        values = {d: self.resolve_variables(prom, d) for d in self.variables}
        counts = {"panel": 0, "alert": 0, "record": 0}
        checked_selectors = {}
        for where, expr, kind, dashboard, empty_ok in queries:
            counts[kind] += 1
            q = substitute(expr, values.get(dashboard))
            left = unresolved_variable(q)
            if left:
                self.fail(where, f"{left} is no variable of the dashboard: {expr}")
                continue
            if not healthy:
                for name in sorted(metric_names(q)):
                    if name not in existing:
                        self.fail(where, f"metric {name} has no series in Prometheus")
                # The name with its matchers: a matcher on a label the metric does not have, or
                # on a value it never takes, selects nothing although the name exists.
                for sel in selectors(q):
                    if sel not in checked_selectors:
                        answer = self.get(prom, "/api/v1/query", {"query": f"count({sel})"})
                        checked_selectors[sel] = (answer.get("status") == "success"
                                                  and bool(answer["data"]["result"]))
                    if not checked_selectors[sel]:
                        self.fail(where, f"selector {sel} matches no series")
            answer = self.get(prom, "/api/v1/query", {"query": q})
            if answer.get("status") != "success":
                self.fail(where, f"query error: {answer.get('error')}: {q}")
            elif kind == "panel":
                has_data = bool(answer["data"]["result"])
                if not has_data and not empty_ok:
                    self.fail(where, "empty result, and the panel's description does not say "
                                     f"{EMPTY_WHEN_HEALTHY!r}: {q}")
                elif has_data and empty_ok and healthy:
                    self.fail(where, f"documented as {EMPTY_WHEN_HEALTHY!r} but has data on this "
                                     f"healthy cluster: {answer['data']['result'][:3]}")
        self.notes.append(
            f"ran {counts['panel']} panel queries, {counts['alert']} alert and "
            f"{counts['record']} recording rule expressions and {len(checked_selectors)} "
            f"selectors against {prom}")
        if healthy:
            self.check_no_alerts(prom)

    def check_no_alerts(self, prom):
        """On a healthy cluster no alert that pages or queues may be active, not even pending."""
        alerts = self.get(prom, "/api/v1/alerts")
        if alerts.get("status") != "success":
            self.fail(prom, f"cannot list alerts: {alerts.get('error')}")
            return
        active = alerts["data"]["alerts"]
        for a in active:
            labels = a.get("labels", {})
            if labels.get("severity") in ("warning", "critical"):
                self.fail(f"alert {labels.get('alertname')}",
                          f"{a.get('state')} on a healthy cluster: {labels}")
        self.notes.append(f"{len(active)} active alert(s), of severity "
                          f"{sorted({a.get('labels', {}).get('severity') for a in active})}")

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
    parser.add_argument("--healthy", action="store_true",
                        help="the Prometheus scrapes a healthy cluster: no warning or critical "
                             "alert may be active, only documented panels may be empty")
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
        checker.check_live(args.prometheus, queries, healthy=args.healthy)
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
