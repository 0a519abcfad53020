"""prometheus_harness.py - shared plumbing of the tests that run a real Prometheus against simcsepp.

Offers: fail/need/run_or_fail (stop the test with a FAIL line), free_port and http_get
(loopback helpers), wait_for (poll until true, bounded by the caller's timeout AND deadline),
write_test_config (the shipped monitoring/prometheus/prometheus.yml with 1 s intervals, absolute
rule paths and a file_sd targets/ directory, checked by promtool), link_targets (a run's
prometheus_targets.json into that directory, as docs/monitoring.md describes), PrometheusServer
(Debian's prometheus on a free 127.0.0.1 port with a temporary TSDB, plus HTTP API queries and
alerts), stop_process and print_log_tail.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import yaml


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def need(tool, hint):
    """The path of `tool` on PATH; fails with `hint` when it is not installed."""
    path = shutil.which(tool)
    if not path:
        fail(f"{tool} not found. HINT: {hint}")
    return path


def run_or_fail(cmd, cwd=None, timeout=60):
    """Runs cmd to completion and returns its stdout; fails the test on a non-zero exit."""
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        fail(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    """-> (status, headers, decoded body)."""
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return reply.status, reply.headers, reply.read().decode()


def wait_for(what, probe, timeout, deadline, alive=None):
    """Polls probe() until it returns a truthy value and returns that value. Fails with `what`
    once `timeout` seconds have passed or the monotonic `deadline` (the whole test's bound) is
    reached, or as soon as alive() turns false (a process that should keep running exited)."""
    end = min(time.monotonic() + timeout, deadline)
    last = None
    while time.monotonic() < end:
        try:
            last = probe()
            if last:
                return last
        except Exception as e:  # not up yet
            last = e
        if alive is not None and not alive():
            fail(f"gave up waiting for {what}: the process exited (last: {last!r})")
        time.sleep(0.25)
    fail(f"timed out waiting for {what} (last: {last!r})")


def write_test_config(prom_dir, work_dir, promtool):
    """Writes work_dir/prometheus.yml: the shipped prom_dir/prometheus.yml with the global and
    simcsepp job intervals shortened to 1 s, the rule files made absolute and the job's file_sd
    reading work_dir/targets/*.json (the directory is created empty). Checks the result with
    `promtool check config`. -> (config path, targets directory)."""
    with open(os.path.join(prom_dir, "prometheus.yml")) as f:
        config = yaml.safe_load(f)
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [os.path.join(prom_dir, r) for r in config["rule_files"]]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "simcsepp"]
    job["scrape_interval"] = "1s"
    job["scrape_timeout"] = "1s"
    targets_dir = os.path.join(work_dir, "targets")
    os.makedirs(targets_dir)
    job["file_sd_configs"][0]["files"] = [os.path.join(targets_dir, "*.json")]
    job["file_sd_configs"][0]["refresh_interval"] = "1s"
    config_path = os.path.join(work_dir, "prometheus.yml")
    with open(config_path, "w") as f:
        yaml.safe_dump(config, f)
    run_or_fail([promtool, "check", "config", config_path])
    return config_path, targets_dir


def link_targets(targets_file, targets_dir, name):
    """Symlinks a run's prometheus_targets.json into targets_dir as <name>.json."""
    os.symlink(targets_file, os.path.join(targets_dir, name + ".json"))


class PrometheusServer:
    """prometheus with config_path on a free 127.0.0.1 port, its TSDB in work_dir/data and its
    output in work_dir/prometheus.log; queried through the HTTP API at self.api.

    The port is picked free and bound by prometheus a moment later, so a parallel test (ctest
    -j) may take it in between: ready() then restarts prometheus on another port, and only
    counts a server as ready that runs with our config file (not another test's prometheus
    answering on the port we lost)."""

    def __init__(self, prometheus, config_path, work_dir):
        self.prometheus, self.config_path, self.work_dir = prometheus, config_path, work_dir
        self.log_path = os.path.join(work_dir, "prometheus.log")
        self.restarts = 0
        self._start()

    def _start(self):
        port = free_port()
        self.api = f"http://127.0.0.1:{port}"
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([self.prometheus, f"--config.file={self.config_path}",
                                             f"--storage.tsdb.path={os.path.join(self.work_dir, 'data')}",
                                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def running(self):
        return self.process.poll() is None

    def ready(self):
        if not self.running():
            with open(self.log_path) as f:
                lost_port = "address already in use" in f.read()
            if not lost_port or self.restarts >= 5:
                fail(f"prometheus exited {self.process.returncode} (see {self.log_path})")
            self.restarts += 1
            self._start()
            return False
        if http_get(f"{self.api}/-/ready")[0] != 200:
            return False
        _, _, body = http_get(f"{self.api}/api/v1/status/flags")
        return json.loads(body)["data"].get("config.file") == self.config_path and self.running()

    def query(self, expr, timeout=5):
        """The result list of an instant query (/api/v1/query); fails the test if it is rejected."""
        _, _, body = http_get(f"{self.api}/api/v1/query?" + urllib.parse.urlencode({"query": expr}),
                              timeout=timeout)
        reply = json.loads(body)
        if reply["status"] != "success":
            fail(f"query {expr}: {reply}")
        return reply["data"]["result"]

    def alerts(self):
        """Every pending or firing alert (/api/v1/alerts)."""
        _, _, body = http_get(f"{self.api}/api/v1/alerts")
        return json.loads(body)["data"]["alerts"]

    def stop(self):
        stop_process(self.process)


def stop_process(process, timeout=10):
    """Terminates a still running process; kills it if it has not exited after `timeout` s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def print_log_tail(name, path, lines=30):
    """Prints the last lines of a log file, if it exists, under a '--- name (tail) ---' header."""
    if os.path.exists(path):
        with open(path) as f:
            print(f"--- {name} (tail) ---\n" + "".join(f.readlines()[-lines:]))
