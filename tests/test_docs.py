"""Docs that are generated must match the code."""

from pathlib import Path

from paysync import task_reference

ROOT = Path(__file__).resolve().parent.parent


def test_task_reference_is_up_to_date():
    expected = task_reference.markdown()
    actual = (ROOT / "docs" / "tasks.md").read_text()
    assert actual == expected, "docs/tasks.md is stale: run 'paysync tasks --markdown > docs/tasks.md'"


def test_the_real_providers_guide_exists_and_the_readme_links_it():
    guide = ROOT / "docs" / "real-providers.md"
    assert guide.exists()
    text = guide.read_text()
    for needed in ("Web app", "Redirect URI", "granular", "certification", "API token", "api.wise-sandbox.com",
                   "webhookPublicKey", "publicUrl", "API member", "client id", "paysync doctor"):
        assert needed in text, needed
    assert "docs/real-providers.md" in (ROOT / "README.md").read_text()


def test_the_documented_webhook_schema_versions_are_the_ones_subscribed():
    import re

    from paysync.connectors.wise.webhooks import EVENTS

    table = (ROOT / "docs" / "webhooks.md").read_text()
    documented = dict(re.findall(r"^\| `([a-z]+#[a-z-]+)` \| (\d+\.\d+\.\d+) \|", table, re.M))
    assert documented == dict(EVENTS)
    assert dict(EVENTS)["balances#update"] == "4.0.0"
