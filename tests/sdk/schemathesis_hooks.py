"""Schemathesis hooks for tests/sdk/run.sh (loaded through SCHEMATHESIS_HOOKS).

GET /buckets/{bucket}/keys/{key} answers a value's bytes as application/octet-stream, which
Schemathesis has no deserializer for: without one it skips checking those bodies against the
Value schema (a binary string of at most maxLength bytes). Latin-1 turns each byte into one
character, so the schema's maxLength counts exactly the value's bytes.

GATEWAY_AUTH_REQUIRED=1 says the gateway under test has credentials configured (run.sh's
second run, which sends a token with -H). openapi.yaml's top-level security is
[{bearerAuth: []}, {}]: a bearer token, or none for a gateway with no credentials. The empty
alternative is right for the API as a whole, but Schemathesis's ignored_auth check skips
every operation whose security lists {} as optional auth, so on the gateway that does require a
token the check would test nothing. For that run the hook drops {} from the top-level list:
the document then says what this gateway enforces, and ignored_auth repeats a successful
request of each secured operation without the token and with a made-up one and fails unless
both answer 401 or 403. The public operations keep their own `security: []`. (Should the
gateway one day serve a document without {} when it has credentials, the hook does nothing.)
"""

import os

import schemathesis


@schemathesis.deserializer("application/octet-stream")
def octets(ctx, response):
    return response.content.decode("latin-1")


@schemathesis.hook
def before_load_schema(ctx, raw_schema):
    if os.environ.get("GATEWAY_AUTH_REQUIRED") != "1":
        return
    security = raw_schema.get("security")
    if isinstance(security, list) and {} in security:
        raw_schema["security"] = [requirement for requirement in security if requirement != {}]
