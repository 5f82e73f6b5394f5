// A conformance peer: @grpc/grpc-js calls the real DTrust server (grpc.health.v1.Health/Check and
// dtrust.tsa.v1.TimestampService/Timestamp, loaded at run time from our .proto files) and prints one JSON object with
// what it saw, one entry per case.
// Usage: node peer.js <host:port> <proto-root> <request.tsq> <response.tsr> [ca.pem]
'use strict';
const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [target, protoRoot, tsqPath, tsrPath, caPath] = process.argv.slice(2);
const def = loader.loadSync(['dtrust/tsa/v1/tsa.proto', 'grpc/health/v1/health.proto'], {
  keepCase: true, enums: String, defaults: true, includeDirs: [protoRoot],
});
const pkg = grpc.loadPackageDefinition(def);
// TLS trusts exactly the test certificate; its name is localhost (the SAN also has 127.0.0.1).
const creds = caPath ? grpc.credentials.createSsl(fs.readFileSync(caPath)) : grpc.credentials.createInsecure();
const options = caPath ? { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' } : {};
const tsa = new pkg.dtrust.tsa.v1.TimestampService(target, creds, options);
const health = new pkg.grpc.health.v1.Health(target, creds, options);

function unary(client, method, request, deadline) {
  return new Promise((resolve) => {
    client[method](request, new grpc.Metadata(), { deadline }, (err, reply) => {
      resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', value: reply });
    });
  });
}

const in20s = () => new Date(Date.now() + 20000);
const check = async () => {
  const r = await unary(health, 'Check', { service: '' }, in20s());
  return r.code === 0 ? { ...r, value: r.value.status } : r;
};
const stamp = async (der, deadline) => {
  const r = await unary(tsa, 'Timestamp', { der_request: der }, deadline);
  return r.code === 0 ? { ...r, value: r.value.der_response.length } : r;
};

function watchUntilDeadline(deadline) {
  return new Promise((resolve) => {
    const call = health.Watch({ service: '' }, { deadline });
    call.on('data', () => {});
    call.on('error', (err) => resolve({ code: err.code, details: err.details }));
    call.on('end', () => resolve({ code: 0, details: '', value: 'ended' }));
  });
}

async function main() {
  const out = {};
  out.health = await check();
  const ts = await unary(tsa, 'Timestamp', { der_request: fs.readFileSync(tsqPath) }, in20s());
  if (ts.code === 0) {
    fs.writeFileSync(tsrPath, ts.value.der_response);
    ts.value = ts.value.der_response.length;
  }
  out.timestamp = ts;
  out.empty_request = await stamp(Buffer.alloc(0), in20s());
  out.after_error = await check();
  // Health/Watch never ends by itself while the status holds, so the deadline always wins (a 1 ms deadline on a fast
  // unary call races its answer).
  out.deadline = await watchUntilDeadline(new Date(Date.now() + 500));
  out.after_deadline = await check();
  out.too_large = await stamp(Buffer.alloc(64 * 1024 + 1, 0x30), in20s());
  out.after_too_large = await check();
  console.log(JSON.stringify(out));
  tsa.close();
  health.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
