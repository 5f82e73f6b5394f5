#!/usr/bin/python3
"""A conformance peer: python3-grpcio calls the DTrust test service and prints one JSON object with what it saw.

Usage: /usr/bin/python3 peer.py <host:port> <descriptor-set.pb> [ca.pem]

Debian's protobuf runtime (3.21) cannot import code from the protoc the .NET build uses, so message classes are
built at run time from a FileDescriptorSet (descriptors are wire-stable across protoc versions).
"""
import json
import os
import sys

import grpc
from google.protobuf import descriptor_pb2, message_factory


def load_messages(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    return message_factory.GetMessages(list(fds.file))


def outcome(call):
    try:
        return {"code": 0, "details": "", "value": call()}
    except grpc.RpcError as e:
        return {"code": e.code().value[0], "details": e.details()}


def main():
    target, descriptors = sys.argv[1], sys.argv[2]
    ca = sys.argv[3] if len(sys.argv) > 3 else None
    m = load_messages(descriptors)
    echo_req, echo_rep = m["dtrust.test.v1.EchoRequest"], m["dtrust.test.v1.EchoReply"]
    fail_req, count_req = m["dtrust.test.v1.FailRequest"], m["dtrust.test.v1.CountRequest"]
    hc_req, hc_rep = m["grpc.health.v1.HealthCheckRequest"], m["grpc.health.v1.HealthCheckResponse"]

    if ca:
        with open(ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        # The certificate names localhost; we connect to 127.0.0.1.
        channel = grpc.secure_channel(target, creds, options=[("grpc.ssl_target_name_override", "localhost")])
    else:
        channel = grpc.insecure_channel(target)

    ser = lambda msg: msg.SerializeToString()

    def unary(path, response_type):
        return channel.unary_unary(path, request_serializer=ser, response_deserializer=response_type.FromString)

    svc = "/dtrust.test.v1.TestService/"
    echo = unary(svc + "Echo", echo_rep)
    out = {}
    out["unary_ok"] = outcome(lambda: echo(echo_req(message="hello ü"), timeout=20).message)
    out["error_status"] = outcome(
        lambda: unary(svc + "Fail", echo_rep)(fail_req(code=3, detail=os.environ["DTRUST_TRICKY_DETAIL"]), timeout=20))
    out["unknown_method"] = outcome(
        lambda: channel.unary_unary(svc + "Missing")(b"", timeout=20) and None)
    out["deadline"] = outcome(
        lambda: unary(svc + "Sleep", echo_rep)(echo_req(message="python-deadline", sleep_ms=20000), timeout=0.3).message)
    out["too_large"] = outcome(lambda: echo(echo_req(payload=b"\0" * (5 * 1024 * 1024)), timeout=20).payload_size)
    count = channel.unary_stream(svc + "Count", request_serializer=ser, response_deserializer=echo_rep.FromString)
    out["server_stream"] = outcome(lambda: [r.message for r in count(count_req(count=5), timeout=20)])
    check = unary("/grpc.health.v1.Health/Check", hc_rep)
    out["health"] = outcome(lambda: hc_rep.ServingStatus.Name(check(hc_req(service=""), timeout=20).status))
    out["health_unknown"] = outcome(lambda: check(hc_req(service="no.such.Service"), timeout=20).status)
    out["after"] = outcome(lambda: echo(echo_req(message="still there"), timeout=20).message)
    for v in out.values():
        if v.get("code") != 0:
            v.pop("value", None)
    print(json.dumps(out, ensure_ascii=False))
    channel.close()


if __name__ == "__main__":
    main()
