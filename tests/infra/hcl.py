"""The Terraform in infra/ as plain Python data, for offline checks (terraform validate needs providers).

python-hcl2 parses each file; `Infra` merges them into resources/data by type and name, locals,
variables and outputs. `instances()` expands a `for_each` over a literal map or a `local.<map>`,
substitutes `each.key` / `each.value` and expands `dynamic` blocks whose for_each is taken from
`each.value.<attribute>`, which is all the checks need: they never evaluate functions.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


@dataclass
class Infra:
    resources: dict[str, dict[str, dict]] = field(default_factory=dict)  # type -> name -> body
    data: dict[str, dict[str, dict]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    terraform: list[dict] = field(default_factory=list)
    variable_order: list[str] = field(default_factory=list)
    output_order: list[str] = field(default_factory=list)

    def copy(self) -> Infra:
        """A deep copy to break on purpose, leaving the session's parsed tree alone."""
        return copy.deepcopy(self)

    def of_type(self, rtype: str) -> dict[str, dict]:
        return self.resources.get(rtype, {})


def parse_texts(texts: dict[str, str]) -> Infra:
    """Parse .tf sources given as {file name: text}."""
    infra = Infra()
    for file_name in sorted(texts):
        parsed = hcl2.loads(texts[file_name], serialization_options=OPTIONS)
        for kind, target in (("resource", infra.resources), ("data", infra.data)):
            for block in parsed.get(kind, []):
                for rtype, by_name in block.items():
                    for name, body in by_name.items():
                        if name in target.setdefault(rtype, {}):
                            raise ValueError(f"{kind} {rtype}.{name} is declared twice ({file_name})")
                        target[rtype][name] = body
        for block in parsed.get("locals", []):
            for name, value in block.items():
                if name in infra.locals:
                    raise ValueError(f"local.{name} is declared twice ({file_name})")
                infra.locals[name] = value
        for block in parsed.get("variable", []):
            for name, body in block.items():
                infra.variables[name] = body
                infra.variable_order.append(name)
        for block in parsed.get("output", []):
            for name, body in block.items():
                infra.outputs[name] = body
                infra.output_order.append(name)
        infra.terraform.extend(parsed.get("terraform", []))
    return infra


def load_infra(directory: Path) -> Infra:
    return parse_texts({p.name: p.read_text() for p in sorted(directory.glob("*.tf"))})


def for_each_map(infra: Infra, for_each: Any) -> dict[str, Any] | None:
    """The map a for_each iterates over, when it is a literal map or `local.<map>`; otherwise None."""
    if isinstance(for_each, dict):
        return for_each
    if isinstance(for_each, str):
        match = re.fullmatch(r"\$\{local\.(\w+)\}", for_each)
        if match and isinstance(infra.locals.get(match.group(1)), dict):
            return infra.locals[match.group(1)]
    return None


def _substitute(obj: Any, key: str, value: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _substitute(v, key, value) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_substitute(v, key, value) for v in obj]
    if not isinstance(obj, str):
        return obj
    if obj == "${each.key}":
        return key
    if obj == "${each.value}":
        return value
    whole = re.fullmatch(r"\$\{each\.value\.(\w+)\}", obj)
    if whole and isinstance(value, dict):
        return value.get(whole.group(1))

    def attribute(match: re.Match) -> str:
        got = value.get(match.group(1)) if isinstance(value, dict) else None
        return json.dumps(got) if isinstance(got, str) else match.group(0)

    obj = re.sub(r"each\.value\.(\w+)", attribute, obj)
    if isinstance(value, str):
        obj = re.sub(r"each\.value\b", json.dumps(value), obj)
    return obj.replace("each.key", json.dumps(key))


def instances(infra: Infra, body: dict) -> list[tuple[str | None, dict]]:
    """(key, body) for each instance of a resource: one per for_each entry, or (None, body)."""
    if "for_each" not in body:
        return [(None, body)]
    mapping = for_each_map(infra, body["for_each"])
    if mapping is None:
        return [(None, body)]
    return [(k, _expand_dynamic(_substitute(body, k, v), v)) for k, v in mapping.items()]


def _dynamic_items(for_each: Any, value: Any) -> list | None:
    """What a dynamic block iterates over, when its for_each names `each.value.<attribute>` (bare, as
    `[each.value.x]`, `each.value.x[*]` or inside `try(..., [])`): a missing or null attribute is no
    item, a map one item, a list its items. None when the expression says something else."""
    if not isinstance(for_each, str) or not isinstance(value, dict):
        return None
    match = re.fullmatch(
        r"\$\{(?:try\()?\[?each\.value\.(\w+)(?:\[\*\])?\]?(?:,\s*(?:\[\]|null|\{\})\))?\}", for_each.strip()
    )
    if not match:
        return None
    got = value.get(match.group(1))
    if got is None:
        return []
    return list(got) if isinstance(got, list) else [got]


def _substitute_iterator(obj: Any, iterator: str, item: Any) -> Any:
    """Replace `<iterator>.value[.attribute]` in a dynamic block's content with the item's values."""
    if isinstance(obj, dict):
        return {k: _substitute_iterator(v, iterator, item) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_substitute_iterator(v, iterator, item) for v in obj]
    if not isinstance(obj, str):
        return obj
    if obj == "${" + iterator + ".value}":
        return item
    whole = re.fullmatch(r"\$\{" + re.escape(iterator) + r"\.value\.(\w+)\}", obj)
    if whole and isinstance(item, dict):
        return item.get(whole.group(1))
    return obj


def _expand_dynamic(body: dict, value: Any) -> dict:
    """Turn `dynamic "<name>"` blocks into plain `<name>` blocks, as Terraform would for this instance.
    A dynamic block whose items cannot be worked out is left as it is (so a check does not see it)."""
    if not isinstance(body.get("dynamic"), list):
        return body
    body = dict(body)
    kept = []
    for entry in body.pop("dynamic"):
        for name, spec in entry.items():
            items = _dynamic_items(spec.get("for_each"), value)
            if items is None:
                kept.append({name: spec})
                continue
            iterator = spec.get("iterator", name)
            content = block(spec, "content") or {}
            expanded = [_substitute_iterator(content, iterator, item) for item in items]
            if expanded:
                body[name] = list(body.get(name) or []) + expanded
    if kept:
        body["dynamic"] = kept
    return body


def resolve_locals(infra: Infra, text: str) -> str:
    """Inline `${local.<name>}` where that local is a string (one level is enough for our files)."""

    def inline(match: re.Match) -> str:
        value = infra.locals.get(match.group(1))
        return value if isinstance(value, str) else match.group(0)

    return re.sub(r"\$\{local\.(\w+)\}", inline, text)


def block(body: dict, name: str) -> dict | None:
    """The single nested block `name` (python-hcl2 gives blocks as one-element lists)."""
    value = body.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value if isinstance(value, dict) else None
