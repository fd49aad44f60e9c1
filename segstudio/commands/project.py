"""``segstudio project info PROJECT [--json]``: what a project holds, without opening the app.

Images by state come from the index in one query (fast at any size); the photos are not looked at.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from segstudio.core.model_records import project_checkpoints
from segstudio.io.project import SCHEMA_VERSION, ImageState, Project


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("project", help="look at a project folder")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="images by state, classes, models and the index's schema")
    info.add_argument("project", type=Path, help="the project folder")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=run_info)


def project_info(project: Project) -> dict[str, Any]:
    """The project's summary as plain JSON data."""
    counts, palette = project.state_counts(), project.palette
    return {
        "name": project.name,
        "root": str(project.root),
        "index": str(project.index_path),
        "schema_version": SCHEMA_VERSION,
        "images": sum(counts.values()),
        "states": {state.value: counts[state] for state in ImageState},
        "palette": palette.name,
        "classes": [
            {"id": c.id, "name": c.name, "isthing": c.isthing, "color": list(c.color)} for c in palette
        ],
        "models": [
            {"name": path.stem, "file": str(path), "bytes": path.stat().st_size}
            for path in project_checkpoints(project.root)
        ],
    }


def _text(info: dict[str, Any]) -> str:
    states = ", ".join(f"{count} {state}" for state, count in info["states"].items())
    classes = ", ".join(f"{c['id']} {c['name']}{' (thing)' if c['isthing'] else ''}" for c in info["classes"])
    models = ", ".join(f"{m['name']} ({m['bytes'] / 1e6:.1f} MB)" for m in info["models"]) or "none"
    return "\n".join(
        [
            f"project  {info['name']}  ({info['root']})",
            f"index    {info['index']} (schema {info['schema_version']})",
            f"images   {info['images']}: {states}",
            f"classes  {len(info['classes'])} ({info['palette']}): {classes}",
            f"models   {len(info['models'])}: {models}",
        ]
    )


def run_info(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        info = project_info(project)
    print(json.dumps(info) if args.json else _text(info))
    return 0
