#!/usr/bin/python3
"""A conformance peer: Debian's python3-grpcio calls the real DTrust server (grpc.health.v1.Health/Check and
dtrust.tsa.v1.TimestampService/Timestamp) and prints one JSON object with what it saw, one entry per case.

Usage: /usr/bin/python3 peer.py <host:port> <request.tsq> <response.tsr> [ca.pem]

The four messages involved have one field each, so they are encoded and decoded here by hand: Debian's protobuf
runtime (3.21) cannot import code from the protoc the .NET build uses, and hand encoding needs no build step.
With ca.pem the channel is TLS and trusts exactly that certificate; its name is localhost.
"""
import json
import sys

import grpc

HEALTH = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def length_delimited(field, payload):
    return varint(field << 3 | 2) + varint(len(payload)) + payload if payload else b""


def fields(body):
    """Yields (field number, value) of a message; varints as int, length-delimited as bytes."""
    i = 0
    while i < len(body):
        key, i = read_varint(body, i)
        wire = key & 7
        if wire == 0:
            value, i = read_varint(body, i)
        elif wire == 2:
            n, i = read_varint(body, i)
            value, i = body[i:i + n], i + n
        else:
            raise ValueError(f"unexpected wire type {wire}")
        yield key >> 3, value


def read_varint(body, i):
    value = shift = 0
    while True:
        b = body[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def health_status(body):
    return HEALTH.get(dict(fields(body)).get(1, 0), "?")


def der_response(body):
    return dict(fields(body)).get(1, b"")


def outcome(call):
    try:
        return {"code": 0, "details": "", "value": call()}
    except grpc.RpcError as e:
        return {"code": e.code().value[0], "details": e.details()}


def main():
    target, tsq_path, tsr_path = sys.argv[1:4]
    ca = sys.argv[4] if len(sys.argv) > 4 else None
    if ca:
        with open(ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        channel = grpc.secure_channel(target, creds, options=[("grpc.ssl_target_name_override", "localhost")])
    else:
        channel = grpc.insecure_channel(target)

    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=lambda service: length_delimited(1, service.encode()),
        response_deserializer=health_status)
    watch = channel.unary_stream(
        "/grpc.health.v1.Health/Watch",
        request_serializer=lambda service: length_delimited(1, service.encode()),
        response_deserializer=health_status)
    stamp = channel.unary_unary(
        "/dtrust.tsa.v1.TimestampService/Timestamp",
        request_serializer=lambda der: length_delimited(1, der),
        response_deserializer=der_response)

    def stamp_to_file():
        with open(tsq_path, "rb") as f:
            reply = stamp(f.read(), timeout=20)
        with open(tsr_path, "wb") as f:
            f.write(reply)
        return len(reply)

    out = {}
    out["health"] = outcome(lambda: check("", timeout=20))
    out["timestamp"] = outcome(stamp_to_file)
    out["empty_request"] = outcome(lambda: len(stamp(b"", timeout=20)))
    out["after_error"] = outcome(lambda: check("", timeout=20))
    # Health/Watch never ends by itself while the status holds, so the deadline always wins; a short deadline on a
    # fast unary call raced its answer (1 µs still lost once to a rejection answered from loopback).
    out["deadline"] = outcome(lambda: len(list(watch("", timeout=0.5))))
    out["after_deadline"] = outcome(lambda: check("", timeout=20))
    out["too_large"] = outcome(lambda: len(stamp(b"\x30" * (64 * 1024 + 1), timeout=20)))
    out["after_too_large"] = outcome(lambda: check("", timeout=20))
    print(json.dumps(out))
    channel.close()


if __name__ == "__main__":
    main()
