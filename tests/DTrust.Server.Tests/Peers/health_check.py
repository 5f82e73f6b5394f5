#!/usr/bin/python3
"""Asks a DTrust server for grpc.health.v1.Health/Check with Debian's python3-grpcio (a peer we did not write).

The request is an empty HealthCheckRequest (service ""), so it serialises to no bytes; the response's only field
is `status` (field 1, varint), decoded here without generated code because Debian's protobuf runtime cannot
import protoc 35 output. Prints the status name; exits 0 only when the RPC itself succeeded.
Usage: health_check.py HOST:PORT [SERVICE]
"""
import sys

import grpc

NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def encode_request(service: str) -> bytes:
    raw = service.encode()
    if not raw:
        return b""
    assert len(raw) < 128
    return bytes([0x0A, len(raw)]) + raw


def decode_status(body: bytes) -> int:
    status = 0
    i = 0
    while i < len(body):
        key = body[i]
        i += 1
        value = 0
        shift = 0
        while True:
            b = body[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if key == 0x08:
            status = value
    return status


def main() -> int:
    target = sys.argv[1]
    service = sys.argv[2] if len(sys.argv) > 2 else ""
    with grpc.insecure_channel(target) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=encode_request,
            response_deserializer=decode_status,
        )
        try:
            status = check(service, timeout=10)
        except grpc.RpcError as e:
            print(f"{e.code().name}: {e.details()}")
            return 2
    print(NAMES.get(status, str(status)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
