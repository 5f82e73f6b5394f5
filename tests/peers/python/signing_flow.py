#!/usr/bin/python3
"""The whole remote-signing flow from Debian's python3-grpcio: the operator sets up a holder and a QUALIFIED EC P-256
credential, the partner authorizes and signs real files as CAdES B-T (CMS_DETACHED with a time-stamp).

Usage: /usr/bin/python3 signing_flow.py <host:port> <descriptor-set.pb> <operator.key> <partner.key> <otp-outbox.jsonl>
                                        <file> [<file> ...]

The message classes are built at run time from a FileDescriptorSet of proto/dtrust/signing/v1/*.proto (protoc
--descriptor_set_out --include_imports): Debian's protobuf runtime cannot import what the build's protoc generates.
Writes FILE.p7s beside each file and prints one JSON object (credential, challenge, factors, files, chain length).
"""
import hashlib
import json
import random
import sys
import time

import grpc
from google.protobuf import descriptor_pb2, message_factory

ACTIVATION_PIN = "13572468"


def load_messages(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    return message_factory.GetMessages(fds.file)


class Stub:
    """Unary calls of one service, with the caller's API key as bearer token."""

    def __init__(self, channel, messages, service, key):
        self._channel = channel
        self._messages = messages
        self._service = service
        self._metadata = (("authorization", "Bearer " + key),)
        self._methods = {}

    def call(self, method, request, response_type):
        name = f"/dtrust.signing.v1.{self._service}/{method}"
        if name not in self._methods:
            response_class = self._messages["dtrust.signing.v1." + response_type]
            self._methods[name] = self._channel.unary_unary(
                name, request_serializer=lambda m: m.SerializeToString(), response_deserializer=response_class.FromString)
        return self._methods[name](request, metadata=self._metadata, timeout=60)


def read_otp(outbox, challenge_id):
    for _ in range(100):
        try:
            with open(outbox, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        entry = json.loads(line)
                        if entry.get("challenge_id") == challenge_id:
                            return entry["otp"]
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"no one-time code for {challenge_id} in {outbox}")


def main():
    if len(sys.argv) < 7:
        print(__doc__, file=sys.stderr)
        return 2
    target, fds_path, operator_key_file, partner_key_file, outbox = sys.argv[1:6]
    files = sys.argv[6:]
    with open(operator_key_file, encoding="utf-8") as f:
        operator_key = f.read().strip()
    with open(partner_key_file, encoding="utf-8") as f:
        partner_key = f.read().strip()

    m = load_messages(fds_path)
    msg = lambda name, **kw: m["dtrust.signing.v1." + name](**kw)  # noqa: E731
    channel = grpc.insecure_channel(target)
    operator = Stub(channel, m, "CredentialService", operator_key)
    partner = Stub(channel, m, "SigningService", partner_key)
    out = {"grpcio": grpc.__version__}

    user = "py-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:10]
    holder = msg("Holder", user_id=user, given_name="Erika", surname="Mustermann", country="DE", phone="+49151%08d" % random.randrange(10**8))
    operator.call("UpsertHolder", msg("UpsertHolderRequest", holder=holder), "Holder")

    now = int(time.time())
    identification = msg("Identification", method=m["dtrust.signing.v1.Identification"].DESCRIPTOR.fields_by_name[
        "method"].enum_type.values_by_name["IDENTIFICATION_METHOD_VIDEO_IDENT"].number)
    identification.verified_at.seconds = now - 86400
    identification.valid_until.seconds = now + 2 * 365 * 86400
    identified = operator.call("RecordIdentification", msg("RecordIdentificationRequest", user_id=user, identification=identification),
                               "Holder")
    out["identificationStale"] = identified.identification_stale

    enum = lambda message, field, name: m["dtrust.signing.v1." + message].DESCRIPTOR.fields_by_name[  # noqa: E731
        field].enum_type.values_by_name[name].number
    enrolled = operator.call("EnrollCredential", msg(
        "EnrollCredentialRequest", user_id=user, level=enum("EnrollCredentialRequest", "level", "LEVEL_QUALIFIED"),
        key_algorithm=enum("EnrollCredentialRequest", "key_algorithm", "KEY_ALGORITHM_EC_P256")), "EnrollCredentialResponse")
    credential_id = enrolled.credential.credential_id
    out["credential"] = credential_id
    out["enrolledStatus"] = enrolled.credential.DESCRIPTOR.fields_by_name["status"].enum_type.values_by_number[
        enrolled.credential.status].name

    active = operator.call("ActivateCredential", msg(
        "ActivateCredentialRequest", credential_id=credential_id,
        transport_pin=read_otp(outbox, "transport-pin:" + credential_id),
        activation_pin=ACTIVATION_PIN), "Credential")
    out["activatedStatus"] = active.DESCRIPTOR.fields_by_name["status"].enum_type.values_by_number[active.status].name

    hashes = []
    for path in files:
        with open(path, "rb") as f:
            hashes.append(hashlib.sha256(f.read()).digest())
    sha256 = enum("AuthorizeSignatureRequest", "hash_algorithm", "HASH_ALGORITHM_SHA256")
    challenge = partner.call("AuthorizeSignature", msg(
        "AuthorizeSignatureRequest", credential_id=credential_id, hashes=hashes, hash_algorithm=sha256,
        description="python3-grpcio peer"), "AuthorizeSignatureResponse")
    factor_names = m["dtrust.signing.v1.AuthorizeSignatureResponse"].DESCRIPTOR.fields_by_name[
        "required_factors"].enum_type.values_by_number
    out["challenge"] = challenge.challenge_id
    out["requiredFactors"] = [factor_names[f].name for f in challenge.required_factors]

    otp = read_otp(outbox, challenge.challenge_id)
    signed = partner.call("SignHash", msg(
        "SignHashRequest", credential_id=credential_id, challenge_id=challenge.challenge_id, otp=otp,
        activation_pin=ACTIVATION_PIN, hashes=hashes, hash_algorithm=sha256,
        signature_format=enum("SignHashRequest", "signature_format", "SIGNATURE_FORMAT_CMS_DETACHED"), timestamp=True),
        "SignHashResponse")
    out["level"] = signed.DESCRIPTOR.fields_by_name["level"].enum_type.values_by_number[signed.level].name
    out["chainLength"] = len(signed.certificate_chain)
    out["signatures"] = len(signed.signatures)
    out["files"] = []
    for path, signature in zip(files, signed.signatures):
        with open(path + ".p7s", "wb") as f:
            f.write(signature)
        out["files"].append(path + ".p7s")

    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except grpc.RpcError as e:
        print(json.dumps({"error": f"{e.code().name}: {e.details()}"}))
        sys.exit(1)
