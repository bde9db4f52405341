"""The planner: (desired resources, observed state) -> ordered actions. Pure; no AWS calls.

Deploy creates what is missing and updates what drifted; it deletes only what the desired
state marks `absent` (the broadcasters with fan-out `inline`), after everything else and
dependents first. Teardown deletes what exists, in reverse dependency order. Values that
depend on resources not created yet stay `Ref`s in an action's details; the executor resolves
them as it goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bingo_ops.deploy.resources import TEARDOWN_KINDS, Join, Ref, Resource

Known = Mapping[tuple[str, str], Mapping[str, Any]]

# Properties AWS cannot change in place; drift there needs a teardown, never a silent update.
IMMUTABLE: Final[Mapping[str, frozenset[str]]] = {
    # A local secondary index exists only if the table was created with it.
    "dynamodb_table": frozenset({"KeySchema", "LocalIndexNames"}),
    "websocket_api": frozenset({"ProtocolType"}),
    "http_api": frozenset({"ProtocolType"}),
}
# Attributes an update of a property replaces: later resources must not plan with the old
# value (re-enabling a table's stream gives it a new ARN, which the mappings must follow).
REPLACES: Final[Mapping[str, Mapping[str, frozenset[str]]]] = {
    "dynamodb_table": {"StreamSpecification": frozenset({"LatestStreamArn"})},
}
# Long enough for an update and its note (a window rounded to whole seconds).
_SUMMARY_LIMIT = 160


class DriftError(ValueError):
    """What exists differs from the plan in a way no update can fix."""


class UnresolvedError(LookupError):
    """A `Ref` names a resource or attribute that does not exist (yet)."""


@dataclass(frozen=True)
class Found:
    """One existing resource, as observed.

    Attributes:
        attributes: What other resources refer to (ids, ARNs) and what calls on it need.
        spec: Its managed properties, shaped like `Resource.spec` for comparison.
    """

    attributes: Mapping[str, Any]
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Observed:
    """Everything of a stage that exists, by (kind, name), and the account it lives in."""

    account: str
    partition: str
    resources: Mapping[tuple[str, str], Found]

    def known(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The attributes of every existing resource (what `Ref`s resolve against)."""
        return {key: dict(found.attributes) for key, found in self.resources.items()}


@dataclass(frozen=True)
class Action:
    """One step of a plan.

    Attributes:
        verb: `create`, `update` or `delete`.
        kind: The resource kind (`dynamodb_table`, `lambda_function`, `ws_route`, ...).
        name: The resource's name.
        details: The calls' parameters (`Ref`s where not known yet) and a `label` describing
            it; an update also lists the properties that differ in `changed` and their
            current values in `previous`.
    """

    verb: str
    kind: str
    name: str
    details: dict[str, Any]

    def view(self) -> dict[str, Any]:
        """One flat row for a table: verb, kind, name, summary."""
        return {"verb": self.verb, "kind": self.kind, "name": self.name, "summary": summary(self)}


def summary(action: Action) -> str:
    """A one-line description of an action (changed properties for an update).

    An update shows a number or flag that changed as `old -> new`; an action with a `note`
    (a window rounded to whole seconds) leads with it.
    """
    label = str(action.details.get("label", ""))
    note = str(action.details.get("note", ""))
    if action.verb != "update":
        return _shorten(f"{note}; {label}" if note and label else note or label)
    previous = action.details.get("previous", {})
    changes = []
    for key in action.details.get("changed", []):
        old, new = previous.get(key), action.details.get(key)
        if key == "CodeSha256":
            changes.append(f"code {str(old or 'none')[:8]}… -> {str(new)[:8]}…")
        elif _scalar(old) and _scalar(new):
            changes.append(f"{key} {old} -> {new}")
        else:
            changes.append(key)
    text = "update " + ", ".join(changes)
    return _shorten(f"{text}; {note}" if note else text)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float)


def _shorten(text: str) -> str:
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 1] + "…"


def resolve(value: Any, known: Known, *, strict: bool = False) -> Any:
    """`value` with every resolvable `Ref` and `Join` replaced by what it stands for.

    Args:
        value: Any nesting of dicts, lists, tuples, `Ref`s, `Join`s and plain values.
        known: Attributes of existing resources by (kind, name).
        strict: Raise on a `Ref` that cannot be resolved instead of leaving it.

    Returns:
        The resolved value (unresolvable parts left as they are unless `strict`).

    Raises:
        UnresolvedError: `strict` and a `Ref` cannot be resolved.
    """
    if isinstance(value, Ref):
        attributes = known.get((value.kind, value.name), {})
        if value.attribute in attributes:
            return attributes[value.attribute]
        if strict:
            raise UnresolvedError(f"{value.kind} {value.name!r} has no {value.attribute} yet")
        return value
    if isinstance(value, Join):
        parts = tuple(resolve(part, known, strict=strict) for part in value.parts)
        if all(isinstance(part, str) for part in parts):
            return "".join(parts)
        return Join(parts)
    if isinstance(value, Mapping):
        return {key: resolve(item, known, strict=strict) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(item, known, strict=strict) for item in value]
    return value


def _canonical(value: Any) -> Any:
    # Lists of plain strings (IAM actions, CORS origins) are sets to AWS; order is noise.
    if isinstance(value, Mapping):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [_canonical(item) for item in value]
        if all(isinstance(item, str) for item in items):
            return sorted(items)
        return items
    return value


def _unresolved(value: Any) -> bool:
    if isinstance(value, Ref | Join):
        return True
    if isinstance(value, Mapping):
        return any(_unresolved(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_unresolved(item) for item in value)
    return False


def same(desired: Any, observed: Any) -> bool:
    """Whether an observed property already has its desired value.

    A desired value still holding a `Ref` differs from anything that exists: it points at a
    resource about to be created.
    """
    if _unresolved(desired):
        return False
    return bool(_canonical(desired) == _canonical(observed))


def plan_deploy(desired: Iterable[Resource], observed: Observed) -> list[Action]:
    """Actions that make what exists match `desired`: create the missing, update the drifted.

    Args:
        desired: The resources in dependency order (`resources.desired_resources`).
        observed: What exists.

    Returns:
        The creates and updates in `desired`'s order, then the deletes of what is marked
        `absent` and exists, in `TEARDOWN_KINDS` order; empty when everything matches.

    Raises:
        DriftError: An immutable property (a table's key schema, an API's protocol) differs.
    """
    known = observed.known()
    actions: list[Action] = []
    deletes: list[Action] = []
    for resource in desired:
        identity = resolve(resource.identity, known)
        found = observed.resources.get((resource.kind, resource.name))
        if resource.absent:
            if found is not None:
                details = {**identity, **found.attributes, "label": resource.label}
                deletes.append(Action("delete", resource.kind, resource.name, details))
            continue
        spec = resolve(resource.spec, known)
        if found is None:
            details = {**identity, **spec, **resolve(resource.create, known)}
            details["label"] = resource.label
            if resource.note:
                details["note"] = resource.note
            actions.append(Action("create", resource.kind, resource.name, details))
            continue
        changed = {
            key: value for key, value in spec.items() if not same(value, found.spec.get(key))
        }
        if not changed:
            continue
        frozen = sorted(IMMUTABLE.get(resource.kind, frozenset()) & changed.keys())
        if frozen:
            raise DriftError(
                f"{resource.kind} {resource.name!r}: {', '.join(frozen)} cannot change in place; "
                "tear the stage down and deploy again"
            )
        details = {**identity, **found.attributes, **spec, **resolve(resource.create, known)}
        details["changed"] = sorted(changed)
        details["previous"] = {key: found.spec.get(key) for key in sorted(changed)}
        details["label"] = resource.label
        if resource.note:
            details["note"] = resource.note
        actions.append(Action("update", resource.kind, resource.name, details))
        replaced = set().union(
            *(REPLACES.get(resource.kind, {}).get(key, frozenset()) for key in changed)
        )
        if replaced:
            key = (resource.kind, resource.name)
            known[key] = {k: v for k, v in known[key].items() if k not in replaced}
    deletes.sort(key=lambda action: TEARDOWN_KINDS.index(action.kind))
    return actions + deletes


_TEARDOWN_LABELS: Final[Mapping[str, str]] = {
    "websocket_api": "with its routes, integrations, authorizer and stage",
    "http_api": "with its routes, integration and stage",
    "event_source_mapping": "the stream stops invoking its function",
    "lambda_function": "with its invoke permission",
    "iam_role": "with its inline policy",
    "ssm_parameter": "the keyring is gone for good: tokens it signed stop verifying",
    "dynamodb_table": "with every item and its TTL setting",
}


def plan_teardown(observed: Observed) -> list[Action]:
    """Delete actions for everything observed, dependents first.

    Only top-level resources are deleted explicitly: an API takes its routes, integrations,
    authorizer and stages along, a function its permissions, a table its TTL setting.

    Args:
        observed: What exists.

    Returns:
        The actions in `resources.TEARDOWN_KINDS` order, by name within a kind.
    """
    actions: list[Action] = []
    for kind in TEARDOWN_KINDS:
        for found_kind, name in sorted(observed.resources):
            if found_kind == kind:
                found = observed.resources[(found_kind, name)]
                details = {**found.attributes, "label": _TEARDOWN_LABELS.get(kind, "")}
                actions.append(Action("delete", kind, name, details))
    return actions
