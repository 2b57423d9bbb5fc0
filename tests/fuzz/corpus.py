"""The named seed corpus of the network fuzzer (tests/e2e/test_gateway_fuzz.py).

Each seed is a frame a hostile or broken station may send, named for what it tries; the fuzzer sends
every seed as it is, then mutations of them drawn from a seeded random generator. Text seeds are
sent as WebSocket text frames, ``bytes`` seeds as binary frames.
"""

from __future__ import annotations

NESTING = 50  # far past any recursion limit of a recursive JSON parser

SEEDS: dict[str, str | bytes] = {
    "empty": "",
    "whitespace": " \t\r\n",
    "not-json": "hello",
    "truncated-call": '[2,"t1","Heartbeat",{',
    "truncated-id": '[2,"t2',
    "nested-arrays": "[" * NESTING,
    "nested-arrays-closed": "[" * NESTING + "]" * NESTING,
    "nested-in-payload": '[2,"t3","DataTransfer",{"vendorId":"x","data":'
    + "[" * NESTING
    + "]" * NESTING
    + "}]",
    "nested-objects": '[2,"t4","Heartbeat",' + '{"a":' * NESTING + "1" + "}" * NESTING + "]",
    "empty-array": "[]",
    "object": '{"a":1}',
    "string": '"text"',
    "number": "42",
    "null": "null",
    "type-0": '[0,"t5"]',
    "type-1": '[1,"t6","Heartbeat",{}]',
    "type-5": '[5,"t7",{}]',
    "type-negative": '[-1,"t8"]',
    "type-huge": '[99999999999999999999999999,"t9","Heartbeat",{}]',
    "type-float": '[2.0,"t10","Heartbeat",{}]',
    "type-string": '["2","t11","Heartbeat",{}]',
    "type-bool": '[true,"t12","Heartbeat",{}]',
    "call-short": '[2,"t13","Heartbeat"]',
    "call-long": '[2,"t14","Heartbeat",{},{}]',
    "call-id-number": '[2,14,"Heartbeat",{}]',
    "call-id-long": '[2,"' + "x" * 37 + '","Heartbeat",{}]',
    "call-action-number": '[2,"t15",7,{}]',
    "call-action-empty": '[2,"t16","",{}]',
    "call-unknown-action": '[2,"t17","NoSuchAction",{}]',
    "call-payload-array": '[2,"t18","Heartbeat",[]]',
    "call-payload-null": '[2,"t19","Heartbeat",null]',
    "result-unknown-id": '[3,"no-such-call",{}]',
    "error-unknown-id": '[4,"no-such-call","InternalError","x",{}]',
    "error-short": '[4,"t20","InternalError"]',
    "huge-connector": '[2,"t21","StatusNotification",{"connectorId":2147483648,"errorCode":"NoError","status":"Available"}]',
    "huge-integer": '[2,"t22","StatusNotification",{"connectorId":'
    + "9" * 400
    + ',"errorCode":"NoError","status":"Available"}]',
    "negative-connector": '[2,"t23","StatusNotification",{"connectorId":-1,"errorCode":"NoError","status":"Available"}]',
    "float-connector": '[2,"t24","StatusNotification",{"connectorId":1.5,"errorCode":"NoError","status":"Available"}]',
    "nan": '[2,"t25","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":NaN}]}]}]',
    "infinity": '[2,"t26","StartTransaction",{"connectorId":1,"idTag":"x","meterStart":Infinity,"timestamp":"2026-01-01T00:00:00Z"}]',
    "exponent": '[2,"t27","StartTransaction",{"connectorId":1,"idTag":"x","meterStart":1e400,"timestamp":"2026-01-01T00:00:00Z"}]',
    "nul-in-string": '[2,"t28","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available","info":"a\\u0000b"}]',
    "lone-surrogate": '[2,"t29","DataTransfer",{"vendorId":"\\ud800"}]',
    "duplicate-keys": '[2,"t30","Authorize",{"idTag":"a","idTag":"b"}]',
    "bad-timestamp": '[2,"t31","StartTransaction",{"connectorId":1,"idTag":"x","meterStart":0,"timestamp":"yesterday"}]',
    "long-string": '[2,"t32","DataTransfer",{"vendorId":"' + "v" * 300 + '"}]',
    "control-chars": '[2,"t33\\u0001","Heartbeat",{}]',
    "binary-call": b'[2,"t34","Heartbeat",{}]',
    "binary-garbage": bytes(range(256)),
    "binary-invalid-utf8": b"\xff\xfe\xfd[2,",
}

__all__ = ["NESTING", "SEEDS"]
