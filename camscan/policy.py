"""Policy: which makers are flagged, on which lists, with citations -> verdicts and findings.

The default policy is data (``camscan/data/policy.toml``). A site adds its own file(s) (``--policy`` or the
config's ``policy`` key) to enable opt-in lists, disable lists, add lists, or add entities such as
"flag Uniview too", without editing the package. Files merge in order: an entity with an existing id gets
the new aliases and listings added; a list table with an existing id replaces the keys it names.

Verdicts (ARCHITECTURE.md, issue 3): ``sanctioned`` needs firmware-level or self-identifying evidence that a
listed maker built the device, uncontradicted by the same strength of evidence for another maker;
``review`` when only weak hints point at a listed maker, or strong evidence conflicts; ``clear`` when the
device is identified as a maker on no enabled list; ``unknown`` otherwise.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from camscan import fsafe
from camscan.errors import ConfigError, DataError
from camscan.fingerprint import STRONG, scores
from camscan.models import Device, Finding, ListCitation, RuleMatch, Verdict

POLICY_FILE = Path(__file__).resolve().parent / "data" / "policy.toml"
CLEAR_THRESHOLD = 0.5  # an unlisted maker needs at least medium evidence (or two hints) to call it clear

_STRENGTH_WORDS = {"firmware": "firmware evidence", "identity": "the device's own identity",
                   "medium": "a distinctive trait", "hint": "a weak hint"}


@dataclass(frozen=True)
class ListDef:
    id: str
    name: str
    authority: str = ""
    url: str = ""
    default: bool = False


@dataclass(frozen=True)
class Listing:
    list: str
    date: str
    citation: str
    url: str = ""
    scope: str = ""
    confidence: str = ""
    applies_to: tuple[str, ...] = ()  # the listing names these subsidiaries, not the entity itself


@dataclass
class Entity:
    id: str
    name: str
    short: str
    aliases: list[str] = field(default_factory=list)
    listings: list[Listing] = field(default_factory=list)
    subsidiaries: list[str] = field(default_factory=list)
    own_brands: list[str] = field(default_factory=list)
    notes: str = ""

    def names(self) -> set[str]:
        return {n.casefold() for n in [self.short, self.name, *self.aliases] if n}


@dataclass
class Policy:
    lists: dict[str, ListDef]
    entities: list[Entity]
    enabled: set[str]
    note: str = ""
    sources: list[str] = field(default_factory=list)

    def entity_for(self, maker: str | None) -> Entity | None:
        if not maker:
            return None
        key = maker.casefold().strip()
        for e in self.entities:
            if key in e.names():
                return e
        return None

    def listed(self, entity: Entity) -> list[Listing]:
        """The entity's own listings on enabled lists (listings naming only its subsidiaries excluded)."""
        return [x for x in entity.listings if x.list in self.enabled and not x.applies_to]

    def citation(self, listing: Listing) -> ListCitation:
        ld = self.lists.get(listing.list)
        return ListCitation(list_id=listing.list, name=ld.name if ld else listing.list, date=listing.date,
                            citation=listing.citation, url=listing.url or (ld.url if ld else ""),
                            scope=listing.scope)

    # ------------------------------------------------------------------------------------------ verdicts
    def evaluate(self, device: Device) -> Device:
        """The device with its verdict and findings set."""
        by_entity: dict[str, list[RuleMatch]] = {}
        strong_unlisted: list[RuleMatch] = []
        for m in device.matches:
            ent = self.entity_for(m.manufacturer)
            if ent is not None and self.listed(ent):
                by_entity.setdefault(ent.id, []).append(m)
            elif m.strength in STRONG:
                strong_unlisted.append(m)
        findings: list[Finding] = []
        for ent_id, ms in by_entity.items():
            ent = next(e for e in self.entities if e.id == ent_id)
            f = self._finding(device, ent, ms, strong_unlisted)
            if f is not None:
                findings.append(f)
        order = {Verdict.SANCTIONED: 0, Verdict.REVIEW: 1}
        findings.sort(key=lambda f: order[f.verdict])
        if findings:
            verdict = findings[0].verdict
            manufacturer = device.manufacturer
            if verdict is Verdict.SANCTIONED:
                manufacturer = next(e.short for e in self.entities if e.id == findings[0].entity)
            return dataclasses.replace(device, verdict=verdict, findings=tuple(findings), manufacturer=manufacturer)
        sc = scores(device.matches)
        if device.manufacturer in sc and sc[device.manufacturer] >= CLEAR_THRESHOLD:
            return dataclasses.replace(device, verdict=Verdict.CLEAR, findings=())
        return dataclasses.replace(device, verdict=Verdict.UNKNOWN, findings=())

    def _finding(self, device: Device, ent: Entity, ms: list[RuleMatch],
                 strong_unlisted: list[RuleMatch]) -> Finding | None:
        strong = [m for m in ms if m.strength in STRONG]
        lists = tuple(self.citation(x) for x in self.listed(ent))
        own = self.listed(ent)
        context = tuple(self.citation(x) for x in ent.listings if x not in own)
        label = f" sold as {device.brand!r}" if device.brand and self.entity_for(device.brand) is not ent else ""
        evidence_text = "; ".join(_describe(m) for m in (strong or ms)[:4])
        if strong and not strong_unlisted:
            verdict, check = Verdict.SANCTIONED, ""
            summary = f"{ent.short} hardware{label}: {evidence_text}."
        elif strong:
            others = ", ".join(sorted({m.manufacturer for m in strong_unlisted}))
            verdict = Verdict.REVIEW
            summary = (f"Conflicting evidence: {ent.short} ({evidence_text}) but also {others} "
                       f"({'; '.join(_describe(m) for m in strong_unlisted[:2])}).")
            check = (f"Check the device label, web interface and firmware to tell whether {ent.short} or "
                     f"{others} built it.")
        elif strong_unlisted:
            return None  # weak hints outweighed by strong evidence of an unlisted maker
        else:
            verdict = Verdict.REVIEW
            summary = f"Weak hints point at {ent.short}{label}: {evidence_text}."
            check = (f"Confirm the maker: run with ONVIF credentials and the HTTP/RTSP/SADP/DHIP probes, or "
                     f"inspect the device's label and web interface for {ent.short} firmware.")
        return Finding(entity=ent.id, entity_name=ent.name, verdict=verdict, lists=lists,
                       evidence=tuple(strong or ms), summary=summary, check=check, context=context)


def _describe(m: RuleMatch) -> str:
    value = m.evidence.value if len(m.evidence.value) <= 60 else m.evidence.value[:57] + "..."
    what = m.note or m.rule
    return f"{what} [{m.evidence.source}:{m.evidence.field}={value!r}, {_STRENGTH_WORDS.get(m.strength, m.strength)}]"


# ------------------------------------------------------------------------------------------------ loading

def _read(path: Path, packaged: bool) -> dict:
    err = DataError if packaged else ConfigError
    if not packaged and path.exists():
        fsafe.check_trusted(path, "policy file")  # a policy others can write could clear a flagged vendor
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise err(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise err(f"policy file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise err(f"policy file {path} is not UTF-8 text") from None


def _merge(policy: Policy, data: dict, path: Path, packaged: bool) -> None:
    err = DataError if packaged else ConfigError
    for list_id, raw in (data.get("lists") or {}).items():
        if not isinstance(raw, dict):
            raise err(f"{path}: [lists.{list_id}] must be a table")
        old = policy.lists.get(list_id)
        base = dataclasses.asdict(old) if old else {"id": list_id, "name": list_id}
        base.update({k: raw[k] for k in ("name", "authority", "url", "default") if k in raw})
        policy.lists[list_id] = ListDef(**base)
        if "default" in raw:
            (policy.enabled.add if raw["default"] else policy.enabled.discard)(list_id)
    for list_id in data.get("enable", []):
        if list_id not in policy.lists:
            raise err(f"{path}: enable names unknown list {list_id!r} (known: {', '.join(sorted(policy.lists))})")
        policy.enabled.add(list_id)
    for list_id in data.get("disable", []):
        policy.enabled.discard(list_id)
    for i, raw in enumerate(data.get("entities", [])):
        where = f"{path}: entities #{i + 1}"
        if not isinstance(raw, dict) or "id" not in raw:
            raise err(f"{where}: needs an id")
        listings = []
        for j, lraw in enumerate(raw.get("listings", [])):
            if "list" not in lraw or "date" not in lraw:
                raise err(f"{where} listing #{j + 1}: needs 'list' and 'date'")
            if lraw["list"] not in policy.lists:
                raise err(f"{where} listing #{j + 1}: unknown list {lraw['list']!r}; define it under [lists]")
            listings.append(Listing(list=lraw["list"], date=str(lraw["date"]), citation=lraw.get("citation", ""),
                                    url=lraw.get("url", ""), scope=lraw.get("scope", ""),
                                    confidence=lraw.get("confidence", ""),
                                    applies_to=tuple(lraw.get("applies_to", ()))))
        existing = next((e for e in policy.entities if e.id == raw["id"]), None)
        aliases = list(raw.get("aliases", []))
        if existing:
            existing.aliases.extend(a for a in aliases if a not in existing.aliases)
            existing.listings.extend(listings)
            continue
        if "name" not in raw:
            raise err(f"{where}: entity {raw['id']!r} needs a name")
        policy.entities.append(Entity(
            id=raw["id"], name=raw["name"], short=raw.get("short", raw["name"]), aliases=aliases,
            listings=listings, subsidiaries=[_name(s) for s in raw.get("subsidiaries", [])],
            own_brands=[_name(b) for b in raw.get("own_brands", [])],
            notes=raw.get("notes", "") if isinstance(raw.get("notes", ""), str) else "; ".join(raw["notes"])))
    policy.sources.append(str(path))


def _name(item) -> str:
    return item.get("name", "") if isinstance(item, dict) else str(item)


def load_policy(extra: Sequence[Path] | Iterable[Path] = ()) -> Policy:
    """The packaged policy, then each site policy file in order."""
    data = _read(POLICY_FILE, packaged=True)
    policy = Policy(lists={}, entities=[], enabled=set(), note=data.get("note", ""))
    _merge(policy, data, POLICY_FILE, packaged=True)
    if not policy.entities:
        raise DataError(f"{POLICY_FILE} defines no entities")
    for path in extra:
        _merge(policy, _read(Path(path), packaged=False), Path(path), packaged=False)
    return policy
