#!/usr/bin/env python3
"""prometheus_service_test.py - a real Prometheus scrapes simcsepp's exporter and fires an alert.

Starts monitoring_metrics_driver (two ranks' TrainingMetrics fed with synthetic steps, each on a
free loopback port, plus the file_sd targets file in a run directory), links the targets file
into targets/ as docs/monitoring.md describes, and runs Debian's prometheus with the shipped
monitoring/prometheus/prometheus.yml and simcsepp_rules.yml (only the intervals shortened to 1 s
and the paths made absolute) on another free loopback port with a temporary TSDB. Then checks:
  1. promtool check config / check rules / test rules on the shipped files;
  2. promtool check metrics accepts every rank's /metrics;
  3. Prometheus discovered both ranks via file_sd and scraped simcsepp_ metrics with rank, host
     and run_id labels (HTTP API /api/v1/query);
  4. every Grafana dashboard query ($run_id and $__rate_interval filled in) and every rule
     expression evaluates, and the dashboard queries return data;
  5. while training is healthy no alert expression holds at any 1 s step (whatever its `for:`)
     and ALERTS has no pending or firing series; after the driver is told to produce a NaN loss,
     SimcseppNonFiniteLoss fires for both ranks (/api/v1/alerts); after a dev-score drop,
     SimcseppDevScoreRegression fires;
  6. after the driver exits, up == 0 for both targets.
Everything runs on 127.0.0.1 and stops by itself; the whole test is bounded to ~90 s.
"""
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prometheus_harness import (PrometheusServer, fail, http_get, link_targets, need,  # noqa: E402
                                print_log_tail, run_or_fail, stop_process, wait_for, write_test_config)

SOURCE = os.environ.get("SIMCSEPP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("SIMCSEPP_BUILD_DIR", os.path.join(SOURCE, "build"))
DRIVER = os.path.join(BUILD, "bin", "monitoring_metrics_driver")
PROM_DIR = os.path.join(SOURCE, "monitoring", "prometheus")
DASHBOARD = os.path.join(SOURCE, "monitoring", "grafana", "simcsepp_training.json")
DEADLINE = time.monotonic() + 90
SETUP_HINT = "run scripts/setup.sh (installs Debian's prometheus package)"


def main():
    promtool = need("promtool", SETUP_HINT)
    prometheus = need("prometheus", SETUP_HINT)
    if not os.access(DRIVER, os.X_OK):
        fail(f"{DRIVER} missing. HINT: build the monitoring_metrics_driver target")

    # 1. The shipped files are valid and their rule unit tests pass.
    run_or_fail([promtool, "check", "config", "prometheus.yml"], cwd=PROM_DIR)
    run_or_fail([promtool, "check", "rules", "simcsepp_rules.yml"], cwd=PROM_DIR)
    out = run_or_fail([promtool, "test", "rules", "simcsepp_rules_test.yml"], cwd=PROM_DIR)
    print(out.strip())

    tmp = tempfile.mkdtemp(prefix="simcsepp_prom_")
    driver = prom = None
    try:
        run_dir = os.path.join(tmp, "run")
        os.makedirs(run_dir)
        driver = subprocess.Popen([DRIVER, "serve", "--run-dir", run_dir, "--ranks", "2",
                                   "--run-id", "svc-test", "--step-ms", "50"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([driver.stdout], [], [], 20)
        line = driver.stdout.readline().split() if ready else []
        if not line or line[0] != "ready" or len(line) != 3:
            fail(f"driver did not report ready: {line}")
        endpoints = line[1:]
        targets_file = os.path.join(run_dir, "prometheus_targets.json")
        with open(targets_file) as f:
            groups = json.load(f)
        if groups[0]["targets"] != endpoints or groups[0]["labels"].get("run_id") != "svc-test":
            fail(f"file_sd content {groups} does not list {endpoints}")
        print(f"driver serves {endpoints}")

        # 2. Each rank's exposition passes promtool's linter, with the right Content-Type.
        for endpoint in endpoints:
            status, headers, body = http_get(f"http://{endpoint}/metrics")
            if status != 200 or not headers["Content-Type"].startswith("text/plain; version=0.0.4"):
                fail(f"{endpoint}: status {status}, Content-Type {headers['Content-Type']}")
            lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True)
            if lint.returncode != 0 or lint.stdout.strip() or lint.stderr.strip():
                fail(f"promtool check metrics on {endpoint}:\n{lint.stdout}{lint.stderr}")

        # The shipped config, with test intervals and absolute paths; targets linked as documented.
        config_path, targets_dir = write_test_config(PROM_DIR, tmp, promtool)
        link_targets(targets_file, targets_dir, "svc-test")
        prom = PrometheusServer(prometheus, config_path, tmp)
        query, alerts = prom.query, prom.alerts
        wait_for("Prometheus ready", prom.ready, 30, DEADLINE)

        # 3. Both ranks discovered through file_sd and scraped, with their labels.
        def scraped():
            result = query('simcsepp_train_loss{job="simcsepp",run_id="svc-test"}')
            ranks = sorted(r["metric"].get("rank") for r in result)
            return result if ranks == ["0", "1"] else None
        result = wait_for("both ranks' simcsepp_train_loss", scraped, 30, DEADLINE)
        healthy_since = time.time()  # both ranks scraped, healthy until the "nan" command below
        for r in result:
            m = r["metric"]
            if m.get("host") != "localhost" or m["instance"] not in endpoints or "exported_run_id" in m:
                fail(f"unexpected labels {m}")
            if not (0 < float(r["value"][1]) < 10):
                fail(f"implausible loss {r}")
        up = query('up{job="simcsepp"}')
        if sorted(float(u["value"][1]) for u in up) != [1.0, 1.0]:
            fail(f"up is {up}")
        steps = query('simcsepp_steps_total{run_id="svc-test"}')
        print(f"scraped ranks {sorted(r['metric']['rank'] for r in result)}, "
              f"steps so far {[s['value'][1] for s in steps]}")

        # 4. Every dashboard query returns data for this run; every rule expression evaluates.
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        # rate() needs two samples in its window: wait for data instead of sleeping a guess.
        for expr in exprs:
            q = expr.replace("$run_id", "svc-test").replace("$__rate_interval", "4s")
            wait_for(f"data from the dashboard query {q}", lambda: query(q), 30, DEADLINE)
        with open(os.path.join(PROM_DIR, "simcsepp_rules.yml")) as f:
            rules = yaml.safe_load(f)
        for group in rules["groups"]:
            for rule in group["rules"]:
                query(rule["expr"])  # fails the test if Prometheus rejects it
        print(f"{len(exprs)} dashboard queries return data")

        # 5. Healthy: no alert condition held. Most alerts have a `for:` of minutes, so "nothing
        # firing" after a few seconds would prove nothing: instead every alert expression is
        # evaluated over the whole healthy period at 1 s resolution, and Prometheus' own ALERTS
        # series (pending or firing) must be empty over it. Then a NaN loss fires
        # SimcseppNonFiniteLoss on both ranks.
        # A healthy period of at least 5 rule evaluations on scraped data (the recording rule's
        # results count them).
        wait_for("5 rule evaluations on scraped data",
                 lambda: query("count_over_time(simcsepp:sentences_per_second:rate5m[1m]) >= 5"), 30, DEADLINE)
        window = f"{int(time.time() - healthy_since) + 1}s"
        held = {}
        alert_rules = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
        for rule in alert_rules:
            hits = query(f"count_over_time(({rule['expr']})[{window}:1s])")
            if hits:
                held[rule["alert"]] = [(h["metric"], h["value"][1]) for h in hits]
        if held:
            fail(f"alert conditions held on a healthy run (series, evaluations) over {window}: {held}")
        pending = query(f"count_over_time(ALERTS[{window}])")
        if pending:
            fail(f"alerts pending or firing on a healthy run over {window}: {[p['metric'] for p in pending]}")
        print(f"healthy for {window}: none of the {len(alert_rules)} alert expressions held, no ALERTS series")
        driver.stdin.write("nan\n")
        driver.stdin.flush()

        def nan_alerts():
            hits = [a for a in alerts()
                    if a["labels"]["alertname"] == "SimcseppNonFiniteLoss" and a["state"] == "firing"]
            return hits if sorted(a["labels"]["rank"] for a in hits) == ["0", "1"] else None
        hits = wait_for("SimcseppNonFiniteLoss firing on both ranks", nan_alerts, 30, DEADLINE)
        print(f"alert fired: {[(a['labels']['alertname'], a['labels']['rank'], a['annotations']['summary']) for a in hits]}")
        skipped = query('simcsepp_skipped_steps_total{run_id="svc-test"} > 0')
        if len(skipped) != 2:
            fail(f"skipped steps not counted: {skipped}")

        # A dev-score drop of 0.1 fires SimcseppDevScoreRegression.
        driver.stdin.write("regress\n")
        driver.stdin.flush()
        wait_for("SimcseppDevScoreRegression firing",
                 lambda: [a for a in alerts() if a["labels"]["alertname"] == "SimcseppDevScoreRegression"
                          and a["state"] == "firing"], 30, DEADLINE)
        print("dev regression alert fired")

        # 6. The driver exits: Prometheus sees both targets down.
        driver.stdin.write("quit\n")
        driver.stdin.flush()
        driver.wait(timeout=20)
        wait_for("up == 0 for both targets",
                 lambda: sorted(float(u["value"][1]) for u in query('up{job="simcsepp"}')) == [0.0, 0.0], 20,
                 DEADLINE)
        print("PASS")
    except SystemExit:
        print_log_tail("prometheus.log", os.path.join(tmp, "prometheus.log"))
        raise
    finally:
        stop_process(driver)
        if prom is not None:
            prom.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
