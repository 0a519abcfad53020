#!/usr/bin/env python3
"""monitoring_names_check.py - the dashboard, the alert rules and the docs use only metrics that
simcsepp really exports, and the exported names follow Prometheus conventions.

Gets the exposition text from `monitoring_metrics_driver dump` (TrainingMetrics fed with
synthetic steps, evaluations, collectives and a checkpoint) and checks:
  - monitoring/grafana/simcsepp_training.json is valid JSON; every panel has a Prometheus
    datasource, a grid position and a unique id; every simcsepp_* name in its queries and in
    monitoring/prometheus/simcsepp_rules.yml is an exported sample name; every simcsepp:* name
    used is recorded by a rule;
  - every exported family: simcsepp_ prefix, counters end in _total, HELP text present, every
    sample carries rank, local_rank, host and run_id; the metrics the issue asks for exist;
  - docs/monitoring.md mentions every exported family.
"""
import json
import os
import re
import subprocess
import sys

import yaml

SOURCE = os.environ.get("SIMCSEPP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("SIMCSEPP_BUILD_DIR", os.path.join(SOURCE, "build"))
DRIVER = os.path.join(BUILD, "bin", "monitoring_metrics_driver")
DASHBOARD = os.path.join(SOURCE, "monitoring", "grafana", "simcsepp_training.json")
RULES = os.path.join(SOURCE, "monitoring", "prometheus", "simcsepp_rules.yml")
DOCS = os.path.join(SOURCE, "docs", "monitoring.md")

NAME = re.compile(r"\bsimcsepp_[A-Za-z0-9_]+")
RECORDED = re.compile(r"\bsimcsepp:[A-Za-z0-9_:]+")
# What issue 7 asks every rank to export (family names).
REQUIRED = [
    "simcsepp_train_loss", "simcsepp_train_instance_loss", "simcsepp_train_dcl_loss",
    "simcsepp_learning_rate", "simcsepp_gradient_norm", "simcsepp_step_duration_seconds",
    "simcsepp_step_phase_seconds_total", "simcsepp_sentences_total", "simcsepp_tokens_total",
    "simcsepp_model_flops_utilization_ratio", "simcsepp_collective_bus_bandwidth_bytes_per_second",
    "simcsepp_gpu_memory_used_bytes", "simcsepp_gpu_memory_reserved_bytes", "simcsepp_dev_spearman",
    "simcsepp_dev_spearman_best", "simcsepp_dev_alignment", "simcsepp_dev_uniformity",
    "simcsepp_embedding_effective_rank", "simcsepp_skipped_steps_total",
    "simcsepp_checkpoint_write_duration_seconds", "simcsepp_data_queue_depth",
    "simcsepp_last_step_timestamp_seconds",
    # issue 15: what each rank's reader reads
    "simcsepp_data_read_bytes_total", "simcsepp_data_shards_opened_total",
    # issue 18: DiffCSE's RTD loss and accuracy
    "simcsepp_train_rtd_loss", "simcsepp_train_rtd_accuracy",
]

errors = []


def check(cond, message):
    if not cond:
        errors.append(message)


def exposition():
    text = subprocess.run([DRIVER, "dump"], capture_output=True, text=True, check=True, timeout=60).stdout
    families, samples, helps = {}, set(), set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            families[name] = kind
        elif line.startswith("# HELP "):
            parts = line.split(" ", 3)
            if len(parts) == 4 and parts[3].strip():
                helps.add(parts[2])
        elif line:
            name = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0)
            samples.add(name)
            for label in ("rank", "local_rank", "host", "run_id"):
                check(f'{label}="' in line, f"sample without {label} label: {line}")
    return families, samples, helps


def exprs_in(node):
    """Every PromQL string in the dashboard: panel target exprs and templating queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str):
                yield value
            else:
                yield from exprs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from exprs_in(item)


def main():
    families, samples, helps = exposition()
    for name, kind in families.items():
        check(name.startswith("simcsepp_"), f"{name}: no simcsepp_ prefix")
        check((kind == "counter") == name.endswith("_total"), f"{name}: {kind} vs _total suffix")
        check(name in helps, f"{name}: no HELP text")
    for name in REQUIRED:
        check(name in families, f"required metric {name} is not exported")

    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    ids = [p["id"] for p in dashboard["panels"]]
    check(len(ids) == len(set(ids)), "duplicate panel ids")
    for panel in dashboard["panels"]:
        check("gridPos" in panel, f"panel {panel.get('title')} without gridPos")
        if panel["type"] != "row":
            check(panel.get("datasource", {}).get("type") == "prometheus", f"panel {panel['title']}: datasource")
            check(panel.get("targets"), f"panel {panel['title']}: no queries")
    dashboard_exprs = list(exprs_in(dashboard))
    check(len(dashboard_exprs) > 20, f"only {len(dashboard_exprs)} dashboard queries found")

    with open(RULES) as f:
        rules = yaml.safe_load(f)
    rule_exprs, recorded = [], set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule_exprs.append(rule["expr"])
            if "record" in rule:
                recorded.add(rule["record"])

    used = set()
    for source, exprs in (("dashboard", dashboard_exprs), ("rules", rule_exprs)):
        for expr in exprs:
            for name in NAME.findall(expr):
                used.add(name)
                check(name in samples, f"{source} uses {name}, which simcsepp does not export: {expr}")
            for name in RECORDED.findall(expr):
                check(name in recorded, f"{source} uses {name}, which no rule records")
    # Each panel group the issue lists is on the dashboard.
    for wanted in ("simcsepp_train_loss", "simcsepp_dev_spearman", "simcsepp_sentences_total",
                   "simcsepp_step_phase_seconds_total", "simcsepp_collective_bus_bandwidth_bytes_per_second",
                   "simcsepp_gpu_memory_used_bytes", "simcsepp_skipped_steps_total"):
        check(any(wanted in e for e in dashboard_exprs), f"dashboard has no panel on {wanted}")

    with open(DOCS) as f:
        docs = f.read()
    for name in families:
        check(name in docs, f"docs/monitoring.md does not mention {name}")

    print(f"{len(families)} families exported, {len(used)} names used by {len(dashboard_exprs)} dashboard "
          f"queries and {len(rule_exprs)} rules")
    if errors:
        print("FAIL:\n  " + "\n  ".join(errors))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
