"""moto's server, with S3's conditional writes made atomic as they are on S3.

moto checks `If-None-Match: *` and then stores the object, with nothing
between the two to stop a second request: two create-only PUTs of one key
sent at the same moment can both succeed, where S3 lets exactly one win.
The tests race real repoman processes against this server, so every S3
request that writes an object (PutObject and CopyObject, and
CompleteMultipartUpload) runs under one lock. Everything else is moto's own.

With MOTO_DYNAMODB_THROTTLE_RATE set (a fraction), that share of DynamoDB
requests is answered with ThrottlingException instead, and each one is
noted as a line in MOTO_DYNAMODB_THROTTLE_LOG: a fault for the tests of
retries that moto cannot produce by itself. With MOTO_DYNAMODB_HOLD (a file
path) set, a DynamoDB write with a condition waits, while that file does not
exist, after creating HOLD.held: a test pauses a writer between its read and
its conditional write, writes in the gap, then lets it go.

One fault S3 produces and moto does not: a conditional write (If-None-Match)
of a key whose name contains `conflict-once` is answered 409
ConditionalRequestConflict the first time, as S3 answers a write racing
another operation on the same key.

    python moto_server.py -H 127.0.0.1 -p PORT
"""

import json
import os
import random
import sys
import threading

from moto.s3.responses import S3Response
from moto.server import main

_writes = threading.Lock()


def _one_at_a_time(method):
    def locked(self, *args, **kwargs):
        with _writes:
            return method(self, *args, **kwargs)

    return locked


_conflicted = set()
_conflicted_lock = threading.Lock()
_CONFLICT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>ConditionalRequestConflict</Code>"
    "<Message>A conflicting conditional operation is currently in progress "
    "against this resource. Please try again.</Message></Error>"
)


def _conflict_once(key_of):
    def wrap(method):
        def answer(self, *args, **kwargs):
            key = key_of(self, *args, **kwargs)
            conditional = self.headers.get("If-None-Match") == "*"
            if conditional and key and "conflict-once" in key:
                with _conflicted_lock:
                    first = (self.bucket_name, key) not in _conflicted
                    _conflicted.add((self.bucket_name, key))
                if first:
                    return 409, {"Content-Type": "application/xml"}, _CONFLICT
            return method(self, *args, **kwargs)

        return answer

    return wrap


def _completion_key(self, request, body, bucket_name, query, key_name):
    return key_name if query.get("uploadId") else None


for _name in ("put_object", "copy_object"):
    _method = getattr(S3Response, _name)
    setattr(S3Response, _name, _conflict_once(lambda self: self.parse_key_name())(_method))
S3Response._key_response_post = _conflict_once(_completion_key)(S3Response._key_response_post)

for _name in ("put_object", "_key_response_post"):
    setattr(S3Response, _name, _one_at_a_time(getattr(S3Response, _name)))

_throttle_rate = float(os.environ.get("MOTO_DYNAMODB_THROTTLE_RATE", "0") or 0)
if _throttle_rate > 0:
    from moto.dynamodb.responses import DynamoHandler

    _answer = DynamoHandler.call_action

    def _throttled(self):
        if random.random() < _throttle_rate:
            log = os.environ.get("MOTO_DYNAMODB_THROTTLE_LOG")
            if log:
                with open(log, "a") as f:
                    f.write("throttled\n")
            body = {
                "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                "message": "Rate of requests exceeds the allowed throughput.",
            }
            return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body)
        return _answer(self)

    DynamoHandler.call_action = _throttled

_hold = os.environ.get("MOTO_DYNAMODB_HOLD")
if _hold:
    import time

    from moto.dynamodb.responses import DynamoHandler

    _unheld = DynamoHandler.call_action

    def _held(self):
        raw = getattr(self, "raw_body", None) or self.body or b""
        if isinstance(raw, str):
            raw = raw.encode()
        if b"ConditionExpression" in raw and not os.path.exists(_hold):
            open(_hold + ".held", "a").close()
            while not os.path.exists(_hold):
                time.sleep(0.02)
        return _unheld(self)

    DynamoHandler.call_action = _held

# With MOTO_IAM_LIKE_AWS set, two parts of IAM that moto 5 leaves out are
# evaluated as AWS does (auth itself is switched on by the test, POST
# /moto-api/reset-auth, as moto offers):
# * S3's `s3:if-none-match` and `s3:if-match` condition keys with the
#   `Null` operator: moto evaluates only `StringEquals` (and no S3 keys)
#   and ignores every other condition, so a policy that allows PutObject
#   only with If-None-Match would let an unconditional overwrite through;
# * the resource of a DynamoDB request (the table's ARN, `/index/NAME` for
#   an index): moto checks DynamoDB actions against `*` only, so a policy
#   naming its table would allow nothing.
if os.environ.get("MOTO_IAM_LIKE_AWS"):
    from moto.iam import access_control as _ac

    _request_keys = threading.local()
    _permitted = _ac.S3IAMRequest.check_action_permitted

    def _check_with_keys(self, resource):
        keys = {}
        for header in ("If-None-Match", "If-Match"):
            value = self._headers.get(header)
            if value is not None:
                keys["s3:" + header.lower()] = value
        _request_keys.keys = keys
        try:
            return _permitted(self, resource)
        finally:
            _request_keys.keys = None

    _ac.S3IAMRequest.check_action_permitted = _check_with_keys
    _conditions = _ac.IAMPolicyStatement._check_conditions

    def _check_null(self, incoming):
        present = getattr(_request_keys, "keys", None)
        null = (self._statement.get("Condition") or {}).get("Null") or {}
        for key, want in null.items():
            if present is not None and key.startswith("s3:"):
                if (key not in present) != (str(want).lower() == "true"):
                    return False
        return _conditions(self, incoming)

    _ac.IAMPolicyStatement._check_conditions = _check_null

    from moto.dynamodb.responses import DynamoHandler as _Dynamo

    def _table_arn(self):
        body = self.body if isinstance(self.body, dict) else {}
        names = [body.get("TableName")] + list((body.get("RequestItems") or {}).keys())
        for item in body.get("TransactItems") or []:
            names += [op.get("TableName") for op in item.values() if isinstance(op, dict)]
        table = next((n for n in names if n), None)
        if not table:
            return "*"
        arn = f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}"
        if body.get("IndexName"):
            arn += "/index/" + body["IndexName"]
        return arn

    _Dynamo._determine_resource = _table_arn

if __name__ == "__main__":
    sys.exit(main())
