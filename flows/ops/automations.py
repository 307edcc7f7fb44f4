"""Create or update the Prefect automations defined in ``deploy/automations.yaml``.

``python -m flows.automations [--file PATH] [--notify-block SLUG/NAME] [--dry-run]``
(``make automations``). Automations are matched by name: an existing one is updated in
place, a missing one created, so running it again changes nothing. Each
``send-notification`` action without a ``block_document_id`` is pointed at the block
named by ``--notify-block`` or ``$SALES_NOTIFY_BLOCK`` (``slack-webhook/sales-alerts``).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.events.schemas.automations import AutomationCore

AUTOMATIONS_FILE = Path(__file__).resolve().parents[2] / "deploy" / "automations.yaml"
NOTIFY_ENV = "SALES_NOTIFY_BLOCK"
NOTIFY_ACTIONS = ("send-notification",)
logger = logging.getLogger("sales_forecast.automations")


class AutomationsError(ValueError):
    """The automations file or the notification block cannot be used as given."""


def read_file(path: Path = AUTOMATIONS_FILE) -> list[dict[str, Any]]:
    """The ``automations:`` list of the file, as plain dicts."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = data.get("automations")
    if not isinstance(items, list) or not items:
        raise AutomationsError(f"{path}: expected a non-empty 'automations:' list")
    return items


def needs_block(items: list[dict[str, Any]]) -> bool:
    """True when some notification action has no block id of its own."""
    return any(
        a.get("type") in NOTIFY_ACTIONS and not a.get("block_document_id")
        for item in items
        for a in item.get("actions", [])
    )


def _with_block(item: dict[str, Any], notify_block_id: UUID | None) -> list[dict[str, Any]]:
    actions = []
    for action in item.get("actions", []):
        if action.get("type") not in NOTIFY_ACTIONS or action.get("block_document_id"):
            actions.append(action)
        elif notify_block_id is None:
            raise AutomationsError(
                f"automation {item.get('name')!r} notifies: set ${NOTIFY_ENV} or "
                "--notify-block to '<block-type-slug>/<block-name>'"
            )
        else:
            actions.append({**action, "block_document_id": str(notify_block_id)})
    return actions


def definitions(items: list[dict[str, Any]], notify_block_id: UUID | None) -> list[AutomationCore]:
    """Validated automations, notification actions pointed at ``notify_block_id``."""
    out = []
    for item in items:
        actions = _with_block(item, notify_block_id)
        out.append(AutomationCore.model_validate({"enabled": True, **item, "actions": actions}))
    return out


def block_id(client: SyncPrefectClient, ref: str) -> UUID:
    """Id of the block ``<block-type-slug>/<block-name>`` (its secrets are not read)."""
    slug, sep, name = ref.partition("/")
    if not sep or not slug or not name:
        raise AutomationsError(f"notification block {ref!r} is not '<block-type-slug>/<name>'")
    document = client.read_block_document_by_name(name, slug, include_secrets=False)
    return document.id


def apply(client: SyncPrefectClient, automations: list[AutomationCore]) -> dict[str, str]:
    """Create or update each automation by name; returns name → ``created``/``updated``."""
    done = {}
    for automation in automations:
        existing = client.read_automations_by_name(automation.name)
        if existing:
            client.update_automation(existing[0].id, automation)
            done[automation.name] = "updated"
        else:
            client.create_automation(automation)
            done[automation.name] = "created"
    return done


def sync(path: Path = AUTOMATIONS_FILE, notify_block: str | None = None) -> dict[str, str]:
    """Read the file, resolve the notification block and apply it to the configured API."""
    items = read_file(path)
    ref = notify_block or os.environ.get(NOTIFY_ENV) or None
    with get_client(sync_client=True) as client:
        resolved = block_id(client, ref) if ref and needs_block(items) else None
        return apply(client, definitions(items, resolved))


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=AUTOMATIONS_FILE)
    parser.add_argument("--notify-block", default=None, help=f"default: ${NOTIFY_ENV}")
    parser.add_argument("--dry-run", action="store_true", help="validate the file only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.dry_run:
        items = read_file(args.file)
        placeholder = UUID(int=0) if needs_block(items) else None
        for automation in definitions(items, placeholder):
            logger.info("ok: %s", automation.name)
        return
    for name, action in sync(args.file, args.notify_block).items():
        logger.info("%s: %s", action, name)


if __name__ == "__main__":
    main()
