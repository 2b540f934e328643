#!/usr/bin/python3
"""Writes the seed corpus (fuzz/corpus/<target>/) from the hand-written inputs below.

Run it after changing them: fuzz/make_seeds.py. Seeds are named seed-*; inputs the fuzzer found
and that were kept after minimizing (-merge=1) are named by libFuzzer (a SHA-1) and left alone.
Tokens are signed with the targets' secret (kSecret in fuzz/api_rig.hpp and token_fuzz.cpp) the
way auth::JwtCodec::Sign and queue::AdmissionCodec::Sign do.
"""
import base64
import hashlib
import hmac
import json
import pathlib

SECRET = b"fuzz-secret-fuzz-secret-fuzz-secret!"
NOW = 1_800_000_000
ROOT = pathlib.Path(__file__).resolve().parent / "corpus"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict, header: str = '{"alg":"HS256","typ":"JWT"}', key: bytes = SECRET) -> str:
    signing = b64(header.encode()) + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
    return signing + "." + b64(hmac.new(key, signing.encode(), hashlib.sha256).digest())


def admission(product: int, user: str, ticket: str, exp_ms: int) -> str:
    key = hmac.new(SECRET, b"ticketing/admission/v1", hashlib.sha256).digest()
    data = f"{product}\n{user}\n{ticket}\n{exp_ms}".encode()
    return f"{ticket}.{exp_ms}." + b64(hmac.new(key, data, hashlib.sha256).digest())


def http(method: str, target: str, body: str = "", headers=(), close=False) -> str:
    lines = [f"{method} {target} HTTP/1.1", "Host: ticketing.test"]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body.encode())}"]
    lines += list(headers)
    if close:
        lines.append("Connection: close")
    return "\r\n".join(lines) + "\r\n\r\n" + body


# fuzz_request: byte 0 = credentials ('0' none, '1' buyer, '2' admin, '3' buyer + admission
# token), byte 1 = how the fakes answer ('@' ok and ready, '0' ok but /ready fails, '2' SOLD_OUT,
# '=' QUEUE_FULL, '?' every call throws UnavailableError).
RESERVE = '{"productId":7,"quantity":2}'
REQUEST = {
    "health": "0@" + http("GET", "/health"),
    "ready": "0@" + http("GET", "/ready"),
    "ready-down": "00" + http("GET", "/ready"),
    "metrics": "0@" + http("GET", "/metrics"),
    "product": "0@" + http("GET", "/products/7"),
    "product-missing": "01" + http("GET", "/products/12345678901234567890"),
    "reserve": "1@" + http("POST", "/purchase/reserve", RESERVE, ["Idempotency-Key: k-1:a.b_c"]),
    "reserve-admitted": "3@" + http("POST", "/purchase/reserve", '{"productId":7}'),
    "reserve-soldout": "12" + http("POST", "/purchase/reserve", '{"productId":7}'),
    "reserve-unavailable": "1?" + http("POST", "/purchase/reserve", RESERVE),
    "reserve-no-token": "0@" + http("POST", "/purchase/reserve", RESERVE),
    "reserve-bad-bearer": "0@" + http("POST", "/purchase/reserve", RESERVE,
                                      ["Authorization: Bearer a.b.c"]),
    "reserve-bad-admission": "1@" + http("POST", "/purchase/reserve", RESERVE,
                                         ["X-Admission-Token: 7-abc.1800000060000.AAAA"]),
    "reserve-chunked": "1@POST /purchase/reserve HTTP/1.1\r\nHost: t\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n6\r\n{\"prod\r\n"
                       "b\r\nuctId\":7}  \r\n0\r\n\r\n",
    "confirm": "1@" + http("POST", "/purchase/confirm", '{"reservationId":"7-' + "a" * 32 + '"}'),
    "cancel": "1@" + http("POST", "/purchase/cancel", '{"reservationId":"7-abc"}'),
    "reservations": "1@" + http("GET", "/purchase/reservations?productId=7"),
    "reservation": "1@" + http("GET", "/purchase/reservations/7-" + "a" * 32),
    "admin-create": "2@" + http("POST", "/admin/products",
                                '{"name":"Gig","price":49.5,"stock":100,"perUserLimit":2,'
                                '"holdSeconds":60,"saleStartsAt":"2030-01-01T10:00:00+02:00",'
                                '"queue":{"enabled":true,"admitPerSecond":20,"maxActive":200,'
                                '"admissionTtlSeconds":120}}'),
    "admin-create-as-buyer": "1@" + http("POST", "/admin/products",
                                         '{"name":"x","price":1,"stock":1}'),
    "admin-patch": "2@" + http("PATCH", "/admin/products/7",
                               '{"saleStartsAt":null,"queue":{"enabled":false}}'),
    "admin-sync": "2@" + http("POST", "/admin/products/7/sync-stock"),
    "queue-info": "0@" + http("GET", "/queue/7"),
    "queue-join": "1@" + http("POST", "/queue/7/join"),
    "queue-join-full": "1=" + http("POST", "/queue/7/join"),
    "queue-status": "1@" + http("GET", "/queue/7/status?x=1&ticket=7-" + "b" * 32),
    "not-found": "0@" + http("GET", "/nope?a=b"),
    "method": "1@" + http("DELETE", "/purchase/reserve"),
    "pipelined": "1@" + http("GET", "/health") + http("POST", "/purchase/reserve", RESERVE)
                 + http("GET", "/queue/7/status?ticket=t", close=True),
    "http10": "1@GET /purchase/reservations?productId=7 HTTP/1.0\r\n\r\n",
}

# fuzz_body: byte 0 = route ('0' reserve, '1' reserve with an admission token, '2' confirm,
# '3' cancel, '4' POST /admin/products, '5' PATCH /admin/products/1), byte 1 = as above.
BODY = {
    "reserve": "0@" + RESERVE,
    "reserve-min": "0@" + '{"productId":1}',
    "reserve-float": "0@" + '{"productId":7.0,"quantity":1e0,"extra":[1,{"a":null}]}',
    "reserve-big": "0@" + '{"productId":9223372036854775807,"quantity":10000}',
    "reserve-admitted": "1@" + '{"productId":7}',
    "confirm": "2@" + '{"reservationId":"7-' + "a" * 32 + '"}',
    "confirm-expired": "26" + '{"reservationId":"7-abc"}',
    "cancel": "3@" + '{"reservationId":"x"}',
    "create": "4@" + '{"name":"Tour \\"2026\\" caf\\u00e9","price":0.05,"stock":0}',
    "create-full": "4@" + '{"name":"Gig","price":49.99,"stock":100000000,"perUserLimit":1000000,'
                          '"holdSeconds":86400,"saleStartsAt":"2026-11-24T12:30:05.123Z",'
                          '"queue":{"admitPerSecond":100000,"maxActive":10000000,'
                          '"admissionTtlSeconds":3600}}',
    "create-null-start": "4@" + '{"name":"x","price":1,"stock":1,"saleStartsAt":null,'
                                '"holdSeconds":null,"queue":null}',
    "patch-queue": "5@" + '{"queue":{"enabled":false,"maxActive":1}}',
    "patch-start": "5@" + '{"saleStartsAt":"2030-02-28T23:59:59-05:30"}',
    "patch-bad": "5@" + '{"name":"x"}',
}

# fuzz_tokens: byte 0 = mode ('P' JWT text, 'Q' header\nclaims signed here, 'R' tampering,
# 'S' admission token text for alice/7, 'T' admission fields).
TICKET = "7-" + "0123456789abcdef" * 2
TOKENS = {
    "jwt-buyer": "P" + jwt({"sub": "alice", "exp": NOW + 3600}),
    "jwt-admin": "P" + jwt({"sub": "ops", "exp": NOW + 3600, "role": "admin"}),
    "jwt-fraction": "P" + jwt({"sub": "bob", "exp": NOW + 0.5, "role": "buyer"}),
    "jwt-other-header": "P" + jwt({"sub": "alice", "exp": NOW + 60},
                                   header='{"typ":"JWT","alg":"HS256","kid":"1"}'),
    "jwt-expired": "P" + jwt({"sub": "alice", "exp": NOW}),
    "jwt-forged": "P" + jwt({"sub": "alice", "exp": NOW + 60}, key=b"z" * 32),
    "jwt-none": "P" + b64(b'{"alg":"none"}') + "." + b64(b'{"sub":"alice","exp":9e9}') + ".",
    "claims-buyer": "Q" + '{"sub":"alice","exp":1800000060}',
    "claims-admin": "Q" + '{"alg":"HS256"}\n{"sub":"ops","exp":1.8e9,"role":"admin"}',
    "claims-bad": "Q" + '{"alg":"HS512"}\n{"sub":"","exp":"1800000060","role":1}',
    "claims-nested": "Q" + '{"alg":"HS256","x":[[[]]]}\n{"sub":"a","exp":18446744073709551615}',
    "tamper-sig": "R" + "\x00" + "\x7fA",
    "tamper-claims": "R" + "\x01" + "\x30X\x31Y",
    "admission": "S" + admission(7, "alice", TICKET, NOW * 1000 + 60_000),
    "admission-other": "S" + admission(8, "alice", TICKET, NOW * 1000 + 60_000),
    "admission-garbage": "S" + TICKET + ".-1.===",
    "admission-fields": "T" + "\x07" + "alice\n" + TICKET + "\n1800000060000",
    "admission-fields-odd": "T" + "\xff" + "\n.\n-9223372036854775808",
}

# fuzz_iso_time: the text itself.
ISO = {
    "utc": "2026-11-24T12:30:05Z",
    "millis": "2026-11-24T12:30:05.123Z",
    "nanos": "2026-11-24T12:30:05.123456789z",
    "offset": "2026-11-24T13:30:05+01:00",
    "negative-offset": "2026-11-24t07:00:05-05:30",
    "leap": "2024-02-29T23:59:59.999Z",
    "epoch": "1970-01-01T00:00:00Z",
    "last": "9999-12-31T23:59:59.999Z",
    "bad-day": "2026-02-29T00:00:00Z",
}


def write(target: str, seeds: dict) -> None:
    folder = ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("seed-*"):
        old.unlink()
    for name, text in seeds.items():
        (folder / f"seed-{name}").write_bytes(text.encode("latin-1"))


write("fuzz_request", REQUEST)
write("fuzz_body", BODY)
write("fuzz_tokens", TOKENS)
write("fuzz_iso_time", ISO)
