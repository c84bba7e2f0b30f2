"""moto's server, with S3's conditional writes made atomic as they are on S3.

moto checks `If-None-Match: *` and then stores the object, with nothing
between the two to stop a second request: two create-only PUTs of one key
sent at the same moment can both succeed, where S3 lets exactly one win.
The tests race real repoman processes against this server, so every S3
request that writes an object (PutObject and CopyObject, and
CompleteMultipartUpload) runs under one lock. Everything else is moto's own.

    python moto_server.py -H 127.0.0.1 -p PORT
"""

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


for _name in ("put_object", "_key_response_post"):
    setattr(S3Response, _name, _one_at_a_time(getattr(S3Response, _name)))

if __name__ == "__main__":
    sys.exit(main())
