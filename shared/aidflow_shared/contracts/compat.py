"""Is the contract still what was published? A snapshot and a compatibility check.

The snapshot holds, per message type, its route and the JSON Schema of its payload (nested
schemas written out in place), as generated for the AsyncAPI document. Comparing the registry
with it classifies every difference:

compatible
    a new type (a new version ``.vN+1`` included); an optional field added; an enum value
    added; a length, range or size limit loosened; a type marked deprecated; a deprecated type
    removed after its sunset.
breaking
    a type removed (before its sunset) or routed elsewhere; a field removed or renamed; a field's
    type changed (``null`` allowed or no longer allowed included); a new required field; a field
    becoming required or optional; an enum value removed; a limit, pattern or format narrowed or
    changed; unknown fields refused where they were allowed.

A breaking change to a published version is never made in place: the new shape is registered
as the next version beside the old one. Deprecating a version gives its readers and writers at
least ``MIN_DEPRECATION_DAYS`` to move: a sunset sooner than that is refused as breaking.

``python -m aidflow_shared.contracts.compat --snapshot FILE`` reports the differences and exits 1
on a breaking one; ``--update`` rewrites the snapshot when nothing is breaking, and
``--update --accept-breaking`` also when something is (a deliberate, announced break).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aidflow_shared.contracts import Registry, registry as default_registry

SNAPSHOT_FORMAT = 1
MIN_DEPRECATION_DAYS = 180
# Keywords that document a schema without constraining it.
_ANNOTATIONS = {"description", "title", "default", "examples", "deprecated"}
# (keyword, True when a larger value narrows what is valid)
_LIMITS = (("minLength", True), ("minimum", True), ("exclusiveMinimum", True), ("minItems", True),
           ("maxLength", False), ("maximum", False), ("exclusiveMaximum", False), ("maxItems", False))
_EXACT = ("pattern", "format", "const", "multipleOf")
JSON_SAFE_INTEGER = 2**53 - 1


@dataclass(frozen=True)
class Change:
    type: str  # the message type
    path: str  # dotted path into its payload; empty for the type itself
    kind: str
    breaking: bool
    detail: str

    def __str__(self) -> str:
        where = f"{self.type} {self.path}".rstrip()
        return f"{'BREAKING' if self.breaking else 'compatible'} {self.kind}: {where}: {self.detail}"


def snapshot(registry: Registry = default_registry) -> dict[str, Any]:
    """The published contract as data: per type its route, status and payload schema."""
    from aidflow_shared.asyncapi import payload_schemas  # the same conversion as the AsyncAPI document

    names, schemas = payload_schemas(registry)
    types = {}
    for message_type in sorted(registry, key=lambda t: t.type):
        types[message_type.type] = {
            "exchange": message_type.exchange,
            "routing_key": message_type.binding_key(),
            "producer": message_type.producer,
            "deprecated": message_type.deprecated,
            "sunset": message_type.sunset.isoformat() if message_type.sunset else None,
            "superseded_by": message_type.superseded_by,
            "schema": _inline({"$ref": f"#/components/schemas/{names[message_type.schema]}"}, schemas),
        }
    return {"format": SNAPSHOT_FORMAT, "types": types}


def _inline(schema: Any, schemas: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return _inline({**schemas[name], **rest}, schemas)
        return {key: _inline(value, schemas) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline(item, schemas) for item in schema]
    return schema


def compare(published: dict[str, Any], current: dict[str, Any], *, today: date | None = None) -> list[Change]:
    """Every difference between a published snapshot and the current one."""
    today = today or date.today()
    changes: list[Change] = []
    old_types, new_types = published["types"], current["types"]
    for type_name, old in old_types.items():
        new = new_types.get(type_name)
        if new is None:
            retired = old["deprecated"] and old["sunset"] and date.fromisoformat(old["sunset"]) < today
            changes.append(Change(type_name, "", "type-retired" if retired else "type-removed", not retired,
                                  "removed after its sunset" if retired else
                                  "a published type may only go once deprecated and past its sunset"))
            continue
        for key in ("exchange", "routing_key"):
            if old[key] != new[key]:
                changes.append(Change(type_name, "", "route-changed", True, f"{key} {old[key]} -> {new[key]}"))
        if new["deprecated"] and not old["deprecated"]:
            too_soon = date.fromisoformat(new["sunset"]) < today + timedelta(days=MIN_DEPRECATION_DAYS)
            changes.append(Change(type_name, "", "sunset-too-soon" if too_soon else "deprecated", too_soon,
                                  f"superseded by {new['superseded_by']}, sunset {new['sunset']}"
                                  + (f": less than {MIN_DEPRECATION_DAYS} days away" if too_soon else "")))
        changes.extend(compare_schemas(type_name, old["schema"], new["schema"]))
    for type_name in new_types.keys() - old_types.keys():
        changes.append(Change(type_name, "", "type-added", False, "a new type or version"))
    return sorted(changes, key=lambda c: (c.type, c.path, c.kind))


def compare_schemas(type_name: str, old: dict, new: dict, path: str = "") -> list[Change]:
    """The differences between two JSON Schemas of one payload (or one field of it)."""
    changes: list[Change] = []

    def add(kind: str, breaking: bool, detail: str, at: str = path):
        changes.append(Change(type_name, at, kind, breaking, detail))

    old_types, old = _normalise(old)
    new_types, new = _normalise(new)
    if old_types != new_types:
        add("type-changed", True, f"{_show(old_types)} -> {_show(new_types)}")
        return changes
    _compare_enums(old.get("enum"), new.get("enum"), add)
    for keyword, larger_narrows in _LIMITS:
        before, after = old.get(keyword), new.get(keyword)
        if before == after:
            continue
        narrowed = (before is None) or (after is not None and (after > before) == larger_narrows)
        add("limit-narrowed" if narrowed else "limit-loosened", narrowed, f"{keyword} {before} -> {after}")
    for keyword in _EXACT:
        before, after = old.get(keyword), new.get(keyword)
        if before != after:
            loosened = after is None
            add("constraint-loosened" if loosened else "constraint-changed", not loosened,
                f"{keyword} {before!r} -> {after!r}")
    if "items" in old or "items" in new:
        changes.extend(compare_schemas(type_name, old.get("items", {}), new.get("items", {}), _join(path, "[]")))
    if "properties" in old or "properties" in new:
        changes.extend(_compare_objects(type_name, old, new, path))
    leftover = {k for k in old.keys() | new.keys()
                if k not in _ANNOTATIONS and k not in ("type", "enum", "items", "properties", "required",
                                                       "additionalProperties")
                and k not in dict(_LIMITS) and k not in _EXACT and old.get(k) != new.get(k)}
    for keyword in sorted(leftover):
        add("constraint-changed", True, f"{keyword} changed")
    return changes


def _compare_enums(before, after, add) -> None:
    if before == after:
        return
    if after is None:
        add("enum-widened", False, "any value now")
        return
    removed = [v for v in (before or []) if v not in after] if before is not None else ["(any value)"]
    added = [v for v in after if before is not None and v not in before]
    if removed:
        add("enum-narrowed", True, f"no longer allowed: {', '.join(map(str, removed))}")
    if added:
        add("enum-widened", False, f"now allowed: {', '.join(map(str, added))}")


def _compare_objects(type_name: str, old: dict, new: dict, path: str) -> list[Change]:
    changes: list[Change] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
    for name in sorted(old_props.keys() | new_props.keys()):
        at = _join(path, name)
        if name not in new_props:
            changes.append(Change(type_name, at, "field-removed", True, "removed (or renamed)"))
        elif name not in old_props:
            required = name in new_required
            changes.append(Change(type_name, at, "field-added-required" if required else "field-added",
                                  required, "a new required field" if required else "a new optional field"))
        else:
            if (name in old_required) != (name in new_required):
                now = "required" if name in new_required else "optional"
                changes.append(Change(type_name, at, f"field-now-{now}", True, f"now {now}"))
            changes.extend(compare_schemas(type_name, old_props[name], new_props[name], at))
    if old.get("additionalProperties", True) is not False and new.get("additionalProperties", True) is False:
        changes.append(Change(type_name, path, "closed", True, "unknown fields are now refused"))
    return changes


def _normalise(schema: dict) -> tuple[frozenset[str], dict]:
    """The set of JSON types a schema allows, and the schema without its ``null`` alternative."""
    schema = {k: v for k, v in schema.items() if k not in _ANNOTATIONS
              and not (k in ("maximum", "exclusiveMaximum") and _number(v) and v >= JSON_SAFE_INTEGER)
              and not (k in ("minimum", "exclusiveMinimum") and _number(v) and v <= -JSON_SAFE_INTEGER)}
    alternatives = schema.get("anyOf")
    if alternatives and {"type": "null"} in alternatives and len(alternatives) == 2:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        other = next(a for a in alternatives if a != {"type": "null"})
        types, inner = _normalise({**rest, **other})
        return types | {"null"}, inner
    declared = schema.get("type")
    types = frozenset([declared] if isinstance(declared, str) else declared or ())
    enum = schema.get("enum")
    if enum is not None and None in enum:
        schema = {**schema, "enum": [v for v in enum if v is not None]}
    return types, schema


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(types: frozenset[str]) -> str:
    return "|".join(sorted(types)) or "any"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def load(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def dump(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aidflow_shared.contracts.compat",
                                     description="Compare the message contract with its published snapshot.")
    parser.add_argument("--snapshot", required=True, type=Path, help="the published snapshot (JSON)")
    parser.add_argument("--current", type=Path, help="compare this snapshot file instead of the registry")
    parser.add_argument("--update", action="store_true", help="write the current contract to --snapshot")
    parser.add_argument("--accept-breaking", action="store_true",
                        help="with --update: write it even though a published type changed in a breaking way")
    args = parser.parse_args(argv)
    current = load(args.current) if args.current else snapshot()
    changes = compare(load(args.snapshot), current) if args.snapshot.exists() else []
    for change in changes:
        print(change)
    breaking = [c for c in changes if c.breaking]
    if args.update:
        if breaking and not args.accept_breaking:
            print(f"{len(breaking)} breaking changes: register the next version instead, "
                  "or pass --accept-breaking to publish the break deliberately", file=sys.stderr)
            return 1
        args.snapshot.write_text(dump(current), encoding="utf-8")
        print(f"wrote {args.snapshot}: {len(current['types'])} types")
        return 0
    if breaking:
        print(f"{len(breaking)} breaking changes to published types", file=sys.stderr)
        return 1
    if args.snapshot.exists() and dump(current) != args.snapshot.read_text(encoding="utf-8"):
        print(f"{args.snapshot} is out of date (compatible changes): rerun with --update")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
