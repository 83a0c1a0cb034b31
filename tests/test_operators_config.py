"""Every setting the code reads is documented in .env.example, and so reaches the containers."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("paysync", "tasks", "storage", "mappers")


def read_by_code() -> set[str]:
    files = [p for d in PRODUCT for p in (ROOT / d).rglob("*.py")] + [ROOT / "celeryconfig.py"]
    return {name for f in files for name in re.findall(r"\bPAYSYNC_[A-Z0-9_]*[A-Z0-9]\b", f.read_text())}


def listed() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*(PAYSYNC_[A-Z0-9_]+)=", text, re.M))


def test_env_example_lists_every_paysync_setting_the_code_reads():
    missing = read_by_code() - listed()
    assert not missing, f".env.example does not list {sorted(missing)}"
    assert not listed() - read_by_code(), f".env.example lists what the code never reads: {sorted(listed() - read_by_code())}"


def test_every_paysync_container_gets_the_env_file_and_the_log_settings():
    import yaml

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, svc in services.items():
        if str(svc.get("image", "")).startswith("paysync:"):
            assert ".env" in (svc.get("env_file") or []), name
            assert {"PAYSYNC_LOG_LEVEL", "PAYSYNC_LOG_FORMAT"} <= set(svc.get("environment") or {}), name


def test_the_compose_check_refuses_a_service_without_healthcheck_or_grace(tmp_path):
    import shutil
    import subprocess

    for what, edit in (("no healthcheck", lambda t: t.replace("    healthcheck: *worker-health\n", "", 1)),
                       ("grace", lambda t: t.replace("  stop_grace_period: 2m\n", "  stop_grace_period: 5s\n", 1))):
        work = tmp_path / what.replace(" ", "-")
        shutil.copytree(ROOT / "scripts", work / "scripts")
        shutil.copy(ROOT / ".env.example", work / ".env.example")
        (work / "docker-compose.yml").write_text(edit((ROOT / "docker-compose.yml").read_text()))
        out = subprocess.run(["bash", str(work / "scripts" / "compose-check.sh")], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode != 0, what
        assert ("no healthcheck" if what == "no healthcheck" else "stop_grace_period") in out.stderr, out.stderr


def test_the_dashboard_shows_every_metric_family_and_compose_provisions_it():
    import json

    import yaml

    collector = (ROOT / "paysync" / "metrics" / "collector.py").read_text()
    from paysync.metrics.collector import COUNTERS, HISTOGRAMS

    families = set(COUNTERS) | set(HISTOGRAMS) | set(re.findall(r'GaugeMetricFamily\(\s*"(\w+)"', collector))
    dashboard = json.loads((ROOT / "monitoring" / "grafana" / "dashboards" / "paysync.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    assert {f for f in families if f not in exprs} == set()
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    mounts = " ".join(services["grafana"]["volumes"])
    assert "monitoring/grafana/dashboards" in mounts and "monitoring/grafana/provisioning" in mounts
    assert services["grafana"]["profiles"] == services["prometheus"]["profiles"] == ["monitoring"]
    assert services["sandbox"]["profiles"] == ["sandbox"]
    scrape = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["metrics:9464"]
