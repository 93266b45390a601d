"""Write each service's AsyncAPI document to docs/asyncapi/<service>.json: `python -m infra.cli.asyncapi`.

tests/unit/test_asyncapi_docs.py fails when a document is out of date with the services' routes.
"""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path

from contracts.catalogue import CATALOGUE
from services.runtime.asyncapi import asyncapi_document

DOCS = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"


def documents() -> dict[str, str]:
    return {
        name: asyncapi_document(name, import_module(f"services.{name}.entrypoints").ROUTES, contract.description)
        for name, contract in CATALOGUE.items()
    }


def main() -> int:
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, text in documents().items():
        (DOCS / f"{name}.json").write_text(text)
        print(f"wrote {DOCS / f'{name}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
