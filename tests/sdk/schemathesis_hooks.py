"""Schemathesis hooks for tests/sdk/run.sh (loaded through SCHEMATHESIS_HOOKS).

GET /buckets/{bucket}/keys/{key} answers a value's bytes as application/octet-stream, which
Schemathesis has no deserializer for: without one it skips checking those bodies against the
Value schema (a binary string of at most maxLength bytes). Latin-1 turns each byte into one
character, so the schema's maxLength counts exactly the value's bytes.
"""

import schemathesis


@schemathesis.deserializer("application/octet-stream")
def octets(ctx, response):
    return response.content.decode("latin-1")
