"""What an operator sees, end to end against the sandbox: the README's step-by-step commands (as
``paysync sandbox env`` prints them) run in a fresh shell, then ``/metrics`` scraped and the JSON
logs of every process read. One run serves every test of this module."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from paysync.metrics import flush_tally
from paysync_dev import devstack
from storage import connections, connectors, merchants
from storage import wise as wise_store
from tasks import dispatch
from tests.harness import empty_tables

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def fresh_env(home: Path, **extra: str) -> dict[str, str]:
    """A new shell's environment: no virtualenv on PATH, only the services and the test settings."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"], "PAYSYNC_ENV": "test",
           "PAYSYNC_SECRET_KEY": os.environ["PAYSYNC_SECRET_KEY"]}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def run(database: str, sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    import redis

    empty_tables()
    flush_tally()  # counts earlier tests' in-process receivers hold would land after the flush
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    sandbox.reset(seed=0)
    tmp = tmp_path_factory.mktemp("operators")
    # the sandbox's ready values and the commands to use them, as a person gets them
    printed = subprocess.run([str(VENV_BIN / "paysync"), "sandbox", "env", "--url", sandbox.base_url], cwd=tmp,
                             env=fresh_env(tmp), capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    sandbox_env = dict(re.findall(r"^export (\w+)=(\S+)$", (tmp / "sandbox" / "env.sh").read_text(), re.M))
    logs = {"PAYSYNC_LOG_FORMAT": "json", "PAYSYNC_LOG_LEVEL": "INFO"}
    worker = devstack.Proc(
        [str(VENV_BIN / "celery"), "-A", "tasks", "-q", "worker", "-Q", dispatch.worker_queues("celery,user,company,service"), "-c", "3",
         "-n", "walkthrough@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle"],
        tmp / "worker.log", devstack.child_env(**logs, **sandbox_env, PAYSYNC_HEALTH_DIR=tmp / "health",
                                               PAYSYNC_HEALTH_INTERVAL="1"), name="worker")
    procs = [worker]
    try:
        worker.wait_for("ready.")
        receiver, receiver_url = devstack.start_webhook_receiver(tmp, **logs)
        procs.append(receiver)
        port = devstack.free_port()
        metrics = devstack.Proc([str(VENV_BIN / "paysync"), "metrics", "serve", "--port", str(port)],
                                tmp / "metrics.log", devstack.child_env(**logs), name="metrics")
        procs.append(metrics)
        # ConnectWise answers one call with a 429 (waited out: Retry-After 1 s)
        requests.post(f"{sandbox.url('connectwise')}/_control/faults", timeout=10,
                      json={"status": 429, "times": 1, "retry_after": 1, "match": "finance"}).raise_for_status()
        script = f"set -e\n. {VENV_BIN}/activate\n{printed.stdout}"
        walk = subprocess.run(["bash", "-c", script], cwd=tmp, env=fresh_env(tmp), capture_output=True, text=True,
                              timeout=240)
        assert walk.returncode == 0, f"{walk.stdout[-3000:]}\n{walk.stderr[-3000:]}"
        merchant = merchants.get("acme")
        connector = connectors.list_all(merchant["id"])[0]
        devstack.wait_until(lambda: wise_store.list_payments(connector["id"], limit=1), 60, "the first Wise sync")
        status = subprocess.run(["bash", "-c", f". {VENV_BIN}/activate && paysync connectors status acme"],
                                cwd=tmp, env=fresh_env(tmp), capture_output=True, text=True, timeout=60)
        # a delivery without a signature, refused by the receiver
        refused = requests.post(f"{receiver_url}/webhooks/wise/{connector['id']}", data=b"{}", timeout=10)
        # a payment Xero refuses, failing in the worker
        refusal = subprocess.run(
            ["bash", "-c", f". {VENV_BIN}/activate && paysync invoices pay --merchant acme --number INV-00001 "
                           "--amount 1.00 --currency USD --account-code 999"],
            cwd=tmp, env=fresh_env(tmp), capture_output=True, text=True, timeout=120)
        devstack.wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
                            if metrics.alive() else None, 30, "the metrics server")
        # the receiver tallies its deliveries and writes them within a second (paysync.metrics.tally)
        def scrape_with_tally() -> str | None:
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
            return text if 'outcome="bad_signature"' in text else None

        scraped = devstack.wait_until(scrape_with_tally, 10, "the receiver's tally in /metrics")
        conn = connections.for_merchant(merchant["id"])[0]
        credentials = connections.get(conn.id).credentials
        wise_config = json.loads((tmp / "sandbox" / "wise.json").read_text())
        yield {"walk": walk, "status": status, "refused": refused, "refusal": refusal, "metrics": scraped,
               "logs": {p.name: p.output() for p in procs}, "connector": connector, "merchant": merchant,
               "secrets": {"wise apiKey": wise_config["apiKey"], "xero client secret": "sandbox-secret",
                           "xero access token": credentials["access_token"],
                           "xero refresh token": credentials["refresh_token"],
                           "connectwise private key": "sandbox-private"},
               "tmp": tmp, "health_dir": tmp / "health"}
    finally:
        for proc in procs:
            proc.stop()


def test_the_readme_step_by_step_runs_as_printed_by_sandbox_env_in_a_fresh_shell(run):
    walk = run["walk"]
    # the README's step-by-step section holds exactly the commands paysync sandbox env printed
    from paysync_dev.sandbox.ready import WALKTHROUGH

    readme = (ROOT / "README.md").read_text()
    assert WALKTHROUGH in readme
    # and they did what they say: invoices downloaded (with progress) and listed exactly, one paid
    assert "INV-00001" in walk.stdout and "69543.94" in walk.stdout
    assert re.search(r"accounting\.download_latest: \d+", walk.stderr), walk.stderr[-2000:]
    assert "'recorded'" in walk.stdout or "recorded" in walk.stdout
    # the connector's first sync shows its progress per stream
    assert run["status"].returncode == 0, run["status"].stderr
    assert "transfers" in run["status"].stdout and "balances" not in run["status"].stderr


def test_metrics_after_a_run_show_every_family_with_its_labels(run):
    families = {f.name: f for f in text_string_to_metric_families(run["metrics"])}

    def samples(name: str, suffix: str = "", **labels: str) -> list[float]:
        fam = families[name]
        return [s.value for s in fam.samples if s.name == name + suffix
                and all(s.labels.get(k) == v for k, v in labels.items())]

    cid, mid = run["connector"]["id"], run["merchant"]["id"]
    assert sum(samples("paysync_jobs", "_total", task="accounting.download_latest", outcome="success")) >= 1
    assert sum(samples("paysync_jobs", "_total", task="wise.fetch_payments", outcome="success")) >= 1
    assert sum(samples("paysync_jobs", "_total", task="accounting.record_payment", outcome="failure")) >= 1
    assert sum(samples("paysync_job_duration_seconds", "_count", task="accounting.download_latest")) >= 1
    assert sum(samples("paysync_job_duration_seconds", "_sum", task="accounting.download_latest")) > 0
    assert sum(samples("paysync_provider_calls", "_total", provider="xero", outcome="2xx")) > 0
    assert sum(samples("paysync_provider_calls", "_total", provider="wise", outcome="2xx")) > 0
    assert sum(samples("paysync_provider_429", "_total", provider="connectwise")) >= 1
    assert sum(samples("paysync_provider_calls", "_total", provider="connectwise", outcome="429")) >= 1
    assert sum(samples("paysync_webhook_deliveries", "_total", provider="wise", outcome="bad_signature")) == 1
    assert sum(samples("paysync_budget_used", provider="xero", owner="connection:1", window="day")) > 0
    assert samples("paysync_budget_left", provider="wise", owner=f"connector:{cid}", merchant_id=str(mid),
                   window="minute")
    assert samples("paysync_budget_limit", provider="xero", window="minute") == [60.0]
    depth = {(s.labels["queue"], s.labels["class"]) for s in families["paysync_queue_depth"].samples}
    assert {("user", "interactive"), ("service", "batch"), ("company", "batch"), ("celery", "interactive")} <= depth
    assert samples("paysync_sync_lag_seconds", owner=f"connector:{cid}", stream="transfers")[0] >= 0
    assert samples("paysync_sync_lag_seconds", owner=f"merchant:{mid}", stream="xero.invoices")[0] >= 0
    for name in ("paysync_parked_jobs", "paysync_quarantined_records", "paysync_initiations",
                 "paysync_webhooks_stored", "paysync_jobs_unacked"):
        assert name in families, name
    assert all(s.value == 0 for s in families["paysync_scrape_errors"].samples)


def test_logs_are_json_lines_with_task_and_merchant_and_no_secret(run):
    lines = [line for text in run["logs"].values() for line in text.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(r, dict) and r.get("level") and r.get("message") is not None for r in records)
    mid = run["merchant"]["id"]
    download = [r for r in records if r.get("task") == "accounting.download_latest"]
    assert download and all(r.get("task_id") and r.get("merchant_id") == mid for r in download)
    calls = [r for r in download if r.get("provider") == "xero"]
    assert calls and {"method", "path", "status", "outcome", "duration_ms"} <= set(calls[0])
    assert any(r.get("task", "").startswith("wise.fetch") and r.get("connector_id") for r in records)
    everything = "\n".join([*lines, run["walk"].stdout, run["walk"].stderr, run["refusal"].stderr])
    for what, secret in run["secrets"].items():
        assert secret and secret not in everything, f"the {what} appears in the output"


def test_a_worker_side_refusal_is_one_error_line_and_a_non_zero_exit(run):
    refusal = run["refusal"]
    assert refusal.returncode == 1
    errors = [line for line in refusal.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "accounting.record_payment failed" in errors[0] and "Account could not be found" in errors[0]
    assert "Traceback" not in refusal.stderr and "celery.exceptions" not in refusal.stderr
    assert refusal.stderr.strip().splitlines()[-1] == errors[0]


def test_health_checks_answer_for_each_process_kind(run):
    # the walkthrough's worker (still running) has a fresh heartbeat; a heartbeat older than asked is a failure
    ok = subprocess.run([str(VENV_BIN / "paysync"), "health", "worker", "--max-age", "30"], capture_output=True,
                        text=True, env={**os.environ, "PAYSYNC_HEALTH_DIR": str(run["health_dir"])}, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert "walkthrough@" in ok.stdout
    stale = subprocess.run([str(VENV_BIN / "paysync"), "health", "worker", "--max-age", "0.001"],
                           capture_output=True, text=True,
                           env={**os.environ, "PAYSYNC_HEALTH_DIR": str(run["health_dir"])}, timeout=30)
    assert stale.returncode == 1 and stale.stderr.startswith("error: ") and "last heartbeat" in stale.stderr
