"""Generate shared/ocpp/v16/messages.py from the official OCPP 1.6 JSON schemas.

The schemas ship with the `ocpp` package (a dev dependency). Generating the model instead of
writing it by hand is what keeps it equal to the schemas; tests/unit/ocpp/test_v16_generated.py
fails when the checked-in module differs from what this script produces.

    python -m tools.generate_ocpp16 > shared/ocpp/v16/messages.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

# Integer properties that are not int32 (ADR 0017): energy register readings, Wh.
WIDE_INTEGERS = frozenset({"meterStart", "meterStop"})

CORE_ACTIONS = [
    # Each entry: the action, who initiates it, its feature profile.
    ("Authorize", "ChargePoint", "Core"),
    ("BootNotification", "ChargePoint", "Core"),
    ("ChangeAvailability", "CentralSystem", "Core"),
    ("ChangeConfiguration", "CentralSystem", "Core"),
    ("ClearCache", "CentralSystem", "Core"),
    ("DataTransfer", "Both", "Core"),
    ("GetConfiguration", "CentralSystem", "Core"),
    ("Heartbeat", "ChargePoint", "Core"),
    ("MeterValues", "ChargePoint", "Core"),
    ("RemoteStartTransaction", "CentralSystem", "Core"),
    ("RemoteStopTransaction", "CentralSystem", "Core"),
    ("Reset", "CentralSystem", "Core"),
    ("StartTransaction", "ChargePoint", "Core"),
    ("StatusNotification", "ChargePoint", "Core"),
    ("StopTransaction", "ChargePoint", "Core"),
    ("UnlockConnector", "CentralSystem", "Core"),
    ("GetDiagnostics", "CentralSystem", "FirmwareManagement"),
    ("DiagnosticsStatusNotification", "ChargePoint", "FirmwareManagement"),
    ("FirmwareStatusNotification", "ChargePoint", "FirmwareManagement"),
    ("UpdateFirmware", "CentralSystem", "FirmwareManagement"),
    ("GetLocalListVersion", "CentralSystem", "LocalAuthListManagement"),
    ("SendLocalList", "CentralSystem", "LocalAuthListManagement"),
    ("CancelReservation", "CentralSystem", "Reservation"),
    ("ReserveNow", "CentralSystem", "Reservation"),
    ("ClearChargingProfile", "CentralSystem", "SmartCharging"),
    ("GetCompositeSchedule", "CentralSystem", "SmartCharging"),
    ("SetChargingProfile", "CentralSystem", "SmartCharging"),
    ("TriggerMessage", "CentralSystem", "RemoteTrigger"),
]

# The security extension's eleven messages (Improved security for OCPP 1.6-J, edition 2, chapter
# 5; their schemas ship with the `ocpp` package beside the 1.6 ones).
SECURITY_ACTIONS = [
    ("CertificateSigned", "CentralSystem", "Security"),
    ("DeleteCertificate", "CentralSystem", "Security"),
    ("ExtendedTriggerMessage", "CentralSystem", "Security"),
    ("GetInstalledCertificateIds", "CentralSystem", "Security"),
    ("GetLog", "CentralSystem", "Security"),
    ("InstallCertificate", "CentralSystem", "Security"),
    ("LogStatusNotification", "ChargePoint", "Security"),
    ("SecurityEventNotification", "ChargePoint", "Security"),
    ("SignCertificate", "ChargePoint", "Security"),
    ("SignedFirmwareStatusNotification", "ChargePoint", "Security"),
    ("SignedUpdateFirmware", "CentralSystem", "Security"),
]

# Nested object types get the name of the OCPP datatype they are (spec chapter 7), not of the field.
TYPE_NAMES = {
    "idTagInfo": "IdTagInfo",
    "csChargingProfiles": "ChargingProfile",
    "chargingProfile": "ChargingProfile",
    "chargingSchedule": "ChargingSchedule",
    "chargingSchedulePeriod": "ChargingSchedulePeriod",
    "meterValue": "MeterValue",
    "transactionData": "TransactionData",  # a MeterValue whose sampledValue may be empty
    "sampledValue": "SampledValue",
    "configurationKey": "KeyValue",
    "localAuthorizationList": "AuthorizationData",
}


def schema_dir() -> Path:
    import ocpp

    return Path(ocpp.__file__).parent / "v16" / "schemas"


def _errata(node: Any) -> None:
    """Corrections the errata make to the shipped schemas, applied in place.

    - Errata 3.84 / J2.1: the unit ``Hertz`` (frequency) is valid wherever a SampledValue is; the
      StopTransaction schema's ``transactionData`` enum lacks it while MeterValues has it.
    """
    if isinstance(node, dict):
        unit = node.get("properties", {}).get("unit")
        if isinstance(unit, dict) and "Celsius" in unit.get("enum", []) and "Hertz" not in unit["enum"]:
            unit["enum"] = [*unit["enum"], "Hertz"]
        for value in node.values():
            _errata(value)
    elif isinstance(node, list):
        for value in node:
            _errata(value)


# Where an inlined definition keeps its name: "#/definitions/CertificateHashDataType" becomes the
# class CertificateHashData (an unknown keyword, which JSON Schema validators ignore).
TYPE_KEY = "x-ocpp-type"


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """``node`` with every ``$ref`` to the schema's own definitions replaced by what it names (the
    security extension's schemas use them; the 1.6 ones are written out)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            name = ref.removeprefix("#/definitions/")
            target = _inline(definitions[name], definitions)
            return (
                {**target, TYPE_KEY: name.removesuffix("Type")} if target.get("type") == "object" else target
            )
        return {k: _inline(v, definitions) for k, v in node.items() if k != "definitions"}
    if isinstance(node, list):
        return [_inline(v, definitions) for v in node]
    return node


def load_schema(file: str) -> dict[str, Any]:
    """The official schema ``file`` (without .json), its definitions inlined, the errata applied."""
    raw: dict[str, Any] = json.loads((schema_dir() / f"{file}.json").read_text())
    schema: dict[str, Any] = _inline(raw, raw.get("definitions", {}))
    _errata(schema)
    return schema


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class Generator:
    def __init__(self) -> None:
        self.classes: dict[str, str] = {}  # class name -> source
        self.shapes: dict[str, str] = {}  # class name -> canonical json of its schema
        self.multiples: list[tuple[str, str]] = []  # (attribute, step) of the class being built

    def object_class(self, name: str, schema: dict[str, Any], doc: str | None = None) -> str:
        # javaType is a code-generation hint of the OCA's schemas, not part of the shape: the same
        # type in two security-extension schemas differs by it alone.
        shape = json.dumps({k: v for k, v in schema.items() if k != "javaType"}, sort_keys=True)
        base, n = name, 1
        while name in self.shapes and self.shapes[name] != shape:
            n += 1
            name = f"{base}{n}"
        if name in self.shapes:
            return name
        self.shapes[name] = shape
        required = set(schema.get("required", []))
        lines = [f"class {name}(Message):"]
        if doc:
            lines.append(f'    """{doc}"""')
            lines.append("")
        props: dict[str, Any] = schema.get("properties", {})
        outer_multiples, self.multiples = self.multiples, []
        fields = []
        for prop, sub in props.items():
            annotation = self.annotation(prop, sub)
            attr = snake(prop)
            rename = "" if camel(attr) == prop else f'name="{prop}"'
            if prop in required:
                default = f" = msgspec.field({rename})" if rename else ""
                fields.append((0, f"    {attr}: {annotation}{default}"))
            else:
                extra = f", {rename}" if rename else ""
                fields.append(
                    (1, f"    {attr}: {annotation} | UnsetType = msgspec.field(default=UNSET{extra})")
                )
        fields.sort(key=lambda f: f[0])  # required first keeps the generated signatures readable
        lines.extend(f for _, f in fields)
        if self.multiples:
            lines.append("")
            lines.append("    def __post_init__(self) -> None:")
            for attr, step in self.multiples:
                lines.append(f'        check_multiple(self.{attr}, "{step}", "{camel(attr)}")')
        self.multiples = outer_multiples
        if not fields and not doc:
            lines.append("    pass")
        self.classes[name] = "\n".join(lines)
        return name

    def annotation(self, prop: str, schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if kind == "object":
            named = schema.get(TYPE_KEY) or TYPE_NAMES.get(prop, prop[:1].upper() + prop[1:])
            return self.object_class(named, schema)
        if kind == "array":
            item = self.annotation(prop, schema["items"])
            meta = []
            if "minItems" in schema:
                meta.append(f"min_length={schema['minItems']}")
            if "maxItems" in schema:
                meta.append(f"max_length={schema['maxItems']}")
            return f"Annotated[list[{item}], Meta({', '.join(meta)})]" if meta else f"list[{item}]"
        if kind == "string":
            if "enum" in schema:
                return "Literal[" + ", ".join(json.dumps(v) for v in schema["enum"]) + "]"
            if schema.get("format") == "date-time":
                return "DateTime"
            if "maxLength" in schema:
                return f"Annotated[str, Meta(max_length={schema['maxLength']})]"
            return "str"
        if kind == "integer":
            # ADR 0017: an OCPP "integer" is an int32 (ids, counts, seconds); meter readings in Wh may
            # exceed it and are int64, stored as bigint.
            return "Int64" if prop in WIDE_INTEGERS else "Int32"
        if kind == "number":
            if "multipleOf" in schema:
                step = repr(schema["multipleOf"])
                self.multiples.append((snake(prop), step))
                return f'Annotated[float, Meta(extra={{DECIMAL_MULTIPLE_OF: "{step}"}})]'
            return "float"
        if kind == "boolean":
            return "bool"
        raise ValueError(f"unsupported schema for {prop}: {schema}")

    def message(self, file: str, class_name: str) -> str:
        schema = load_schema(file)
        if schema.get("additionalProperties", True) is not False:
            raise ValueError(f"{file}: expected additionalProperties false")
        return self.object_class(class_name, schema, doc=f"{file}.json")


HEADER = '''"""OCPP 1.6 messages, generated by tools/generate_ocpp16.py from the official schemas.

Conventions: snake_case attributes with the schema's camelCase wire names; optional fields default to
``UNSET`` and are omitted when encoding (the schemas forbid null); unknown properties are rejected
(additionalProperties false); enumerations are ``Literal``; date-times must carry a time zone
(RFC 3339, as the schemas' ``date-time`` format requires). ``integer`` fields are int32 (``Int32``)
except the meter readings ``meterStart``/``meterStop`` (``Int64``), ADR 0017. ``number`` fields are floats; where the
schema says ``multipleOf`` (``limit``, ``minChargingRate``: 0.1) the check runs on the decimal text
(shared/ocpp/v16/constraints.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from shared.ocpp.v16.constraints import (
    DECIMAL_MULTIPLE_OF,
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    check_multiple,
)

DateTime = Annotated[datetime, Meta(tz=True)]
Int32 = Annotated[int, Meta(ge=INT32_MIN, le=INT32_MAX)]
# msgspec decodes any JSON integer into a Python int: the bound is what keeps it within bigint.
Int64 = Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX)]


class Message(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, rename="camel"):
    """Base of every generated type: the schema rules that apply to all of them."""
'''


def generate() -> str:
    gen = Generator()
    table = []
    for action, initiator, profile in CORE_ACTIONS + SECURITY_ACTIONS:
        req = gen.message(action, f"{action}Request")
        res = gen.message(f"{action}Response", f"{action}Response")
        table.append((action, req, res, initiator, profile))
    body = "\n\n\n".join(gen.classes.values())
    rows = "\n".join(f'    ("{a}", {req}, {res}, "{i}", "{p}"),' for a, req, res, i, p in table)
    footer = (
        "\n\n\n# (action, request type, response type, who sends the CALL, feature profile)\n"
        "MESSAGES: list[tuple[str, type[msgspec.Struct], type[msgspec.Struct], str, str]] = [\n"
        f"{rows}\n]\n"
    )
    return HEADER + "\n\n" + body + footer


if __name__ == "__main__":
    sys.stdout.write(generate())
