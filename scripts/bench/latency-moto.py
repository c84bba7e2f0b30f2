"""moto's server with a fixed delay before every request, logging each one.

The server of tests/aws/moto_server.py (moto, with S3's conditional writes
made atomic), behind a WSGI middleware that sleeps DELAY seconds before
handing a request to moto, as a distant AWS endpoint makes a client wait,
and appends one JSON line per request to LOG when moto has answered:

    {"svc": "S3", "op": "PutObject", "t0": 1764400000.123, "t1": 1764400000.145}

t0 is when the request arrived, t1 when its answer was ready (wall clock,
seconds). Requests are served by one thread each, so delays overlap like
round trips in flight at once do.

    python latency-moto.py -H 127.0.0.1 -p PORT --delay-ms 20 --log FILE
"""

import argparse
import io
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "aws"))
import moto_server  # noqa: E402,F401  (patches moto: atomic conditional writes)
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple  # noqa: E402

# S3 bucket subresources named by a query parameter, and the operation
# each method on them is.
_BUCKET_SUBRESOURCES = (
    "versioning", "location", "acl", "policy", "website", "ownershipControls",
    "publicAccessBlock", "uploads", "delete", "tagging", "lifecycle", "encryption",
)


def _service(environ):
    """The service a request is signed for (SigV4's credential scope)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    marker = "Credential="
    if marker in auth:
        scope = auth.split(marker, 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            return {"s3": "S3", "sns": "SNS", "sts": "STS", "dynamodb": "DynamoDB",
                    "sdb": "SimpleDB"}.get(scope[3], scope[3])
    return "unsigned"


def _s3_op(environ):
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "/").lstrip("/")
    bucket, _, key = path.partition("/")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if not bucket:
        return "ListBuckets"
    if key:
        if method == "HEAD":
            return "HeadObject"
        if method == "GET":
            return "GetObject"
        if method == "PUT":
            if "partNumber" in query:
                return "UploadPart"
            if "HTTP_X_AMZ_COPY_SOURCE" in environ:
                return "CopyObject"
            return "PutObject"
        if method == "POST":
            return "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
        if method == "DELETE":
            return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
        return method + "Object"
    sub = next((s for s in _BUCKET_SUBRESOURCES if s in query), None)
    if method == "HEAD":
        return "HeadBucket"
    if method == "GET":
        if sub:
            return "GetBucket" + sub[0].upper() + sub[1:]
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    if method == "PUT":
        return "PutBucket" + sub[0].upper() + sub[1:] if sub else "CreateBucket"
    if method == "POST" and sub == "delete":
        return "DeleteObjects"
    if method == "DELETE":
        return "DeleteBucket" + (sub[0].upper() + sub[1:] if sub else "")
    return method + "Bucket"


def _operation(environ, svc):
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    if svc == "S3":
        return _s3_op(environ)
    # Query-protocol services (SNS, STS): the action is a form field.
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    form = parse_qs(body.decode("utf-8", "replace"))
    form.update(parse_qs(environ.get("QUERY_STRING", "")))
    return form.get("Action", ["?"])[0]


class Delayed:
    def __init__(self, app, delay, log_path):
        self.app = app
        self.delay = delay
        self.log = open(log_path, "a", buffering=1) if log_path else None
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        t0 = time.time()
        svc = _service(environ)
        op = _operation(environ, svc)
        if self.delay > 0:
            time.sleep(self.delay)
        # The whole answer is made before it is logged, so a client that
        # has its answer finds the request in the log.
        body = b"".join(self.app(environ, start_response))
        t1 = time.time()
        if self.log:
            line = json.dumps({"svc": svc, "op": op, "t0": t0, "t1": t1})
            with self.lock:
                self.log.write(line + "\n")
        return [body]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--log", help="append one JSON line per request here")
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        Delayed(app, args.delay_ms / 1000.0, args.log),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
