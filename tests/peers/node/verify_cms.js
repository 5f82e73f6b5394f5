// Independent verifier of DTrust's CAdES signatures with PKI.js (nobody here wrote it).
//   node verify_cms.js --cms sig.p7s --data FILE [--root root.pem] [--tsa-cert tsa.pem]
// Verifies the detached SignedData over FILE (with --root: also the signer's chain up to that root). When the
// SignerInfo carries a signature-time-stamp (id-aa-signatureTimeStampToken), parses the TimeStampToken, verifies its
// signature with the given TSA certificate, and checks that its messageImprint is the hash of the signer's
// signature value. Prints one JSON line; exits 1 when anything fails, 2 on bad usage.
"use strict";

const fs = require("node:fs");
const nodeCrypto = require("node:crypto");

const SIGNATURE_TIME_STAMP = "1.2.840.113549.1.9.16.2.14";
const SIGNING_TIME = "1.2.840.113549.1.9.5";
const SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47";
const HASH_NAMES = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
      throw new Error(`bad argument ${argv[i]}`);
    }
    args[argv[i].slice(2)] = argv[i + 1];
  }
  if (!args.cms || !args.data) {
    throw new Error("usage: verify_cms.js --cms FILE --data FILE [--root PEM] [--tsa-cert PEM]");
  }
  return args;
}

function toArrayBuffer(buf) {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

function pemToDer(text) {
  const b64 = text.replace(/-----(BEGIN|END) [^-]+-----/g, "").replace(/\s+/g, "");
  return toArrayBuffer(Buffer.from(b64, "base64"));
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }

  // pkijs and asn1js are ES modules only.
  const pkijs = await import("pkijs");
  pkijs.setEngine("node", new pkijs.CryptoEngine({ name: "node", crypto: nodeCrypto.webcrypto }));

  const loadCert = (path) => pkijs.Certificate.fromBER(pemToDer(fs.readFileSync(path, "utf8")));
  const data = toArrayBuffer(fs.readFileSync(args.data));
  const contentInfo = pkijs.ContentInfo.fromBER(toArrayBuffer(fs.readFileSync(args.cms)));
  const result = { ok: false, contentType: contentInfo.contentType };

  const signedData = new pkijs.SignedData({ schema: contentInfo.content });
  const signerInfo = signedData.signerInfos[0];
  result.version = signedData.version;
  result.signerCount = signedData.signerInfos.length;
  result.detached = signedData.encapContentInfo.eContent === undefined;
  result.signatureAlgorithm = signerInfo.signatureAlgorithm.algorithmId;
  result.signedAttributes = signerInfo.signedAttrs.attributes.map((a) => a.type);
  result.hasSigningTime = result.signedAttributes.includes(SIGNING_TIME);
  result.hasSigningCertificateV2 = result.signedAttributes.includes(SIGNING_CERTIFICATE_V2);

  try {
    const verified = await signedData.verify({
      signer: 0,
      data,
      checkChain: Boolean(args.root),
      trustedCerts: args.root ? [loadCert(args.root)] : [],
      extendedMode: true,
    });
    result.signatureVerified = verified.signatureVerified === true;
    result.chainVerified = args.root ? verified.signerCertificateVerified === true : null;
  } catch (e) {
    result.signatureVerified = false;
    result.error = `signature: ${e.message ?? e}`;
  }

  const unsigned = signerInfo.unsignedAttrs ? signerInfo.unsignedAttrs.attributes : [];
  const stampAttribute = unsigned.find((a) => a.type === SIGNATURE_TIME_STAMP);
  result.hasTimestamp = stampAttribute !== undefined;
  let stampOk = true;
  if (stampAttribute) {
    stampOk = false;
    try {
      const tokenInfo = new pkijs.ContentInfo({ schema: stampAttribute.values[0] });
      const token = new pkijs.SignedData({ schema: tokenInfo.content });
      const tstInfo = pkijs.TSTInfo.fromBER(token.encapContentInfo.eContent.getValue());
      const signatureValue = Buffer.from(signerInfo.signature.valueBlock.valueHexView);
      const hashName = HASH_NAMES[tstInfo.messageImprint.hashAlgorithm.algorithmId];
      if (!hashName) {
        throw new Error(`imprint hash ${tstInfo.messageImprint.hashAlgorithm.algorithmId} unknown`);
      }
      const expected = nodeCrypto.createHash(hashName).update(signatureValue).digest();
      const imprint = Buffer.from(tstInfo.messageImprint.hashedMessage.valueBlock.valueHexView);
      result.timestampImprintMatches = expected.equals(imprint);
      result.timestampGenTime = tstInfo.genTime.toISOString();

      if (args["tsa-cert"]) {
        // The token's signature must verify with exactly the TSA certificate we were given.
        const tsaCert = loadCert(args["tsa-cert"]);
        token.certificates = [tsaCert];
      }
      // With TSTInfo content, PKI.js also recomputes the imprint over `data`: pass the signature value.
      const verified = await token.verify({ signer: 0, data: toArrayBuffer(signatureValue), extendedMode: true });
      result.timestampSignatureVerified = verified.signatureVerified === true;
      stampOk = result.timestampImprintMatches && result.timestampSignatureVerified;
    } catch (e) {
      result.timestampSignatureVerified = false;
      result.error = `${result.error ? result.error + "; " : ""}timestamp: ${e.message ?? e}`;
    }
  }

  result.ok = result.signatureVerified && result.chainVerified !== false && stampOk;
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, error: String(e && e.stack ? e.stack : e) }));
  process.exit(1);
});
