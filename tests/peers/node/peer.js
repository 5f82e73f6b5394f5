// A conformance peer: @grpc/grpc-js calls the DTrust test service and prints one JSON object with what it saw.
// Usage: node peer.js <host:port> <test-protos-dir> <proto-root> [ca.pem]
'use strict';
const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [target, testProtos, protoRoot, caPath] = process.argv.slice(2);
const def = loader.loadSync(['test.proto', 'grpc/health/v1/health.proto'], {
  keepCase: true, enums: String, defaults: true, includeDirs: [testProtos, protoRoot],
});
const pkg = grpc.loadPackageDefinition(def);
// TLS verifies the server certificate against the test CA; its name is localhost (SAN also has 127.0.0.1).
const creds = caPath ? grpc.credentials.createSsl(fs.readFileSync(caPath)) : grpc.credentials.createInsecure();
const options = caPath ? { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' } : {};
const test = new pkg.dtrust.test.v1.TestService(target, creds, options);
const health = new pkg.grpc.health.v1.Health(target, creds, options);

const deadline = (ms) => ({ deadline: new Date(Date.now() + ms) });

function unary(client, method, request, callOptions = {}) {
  return new Promise((resolve) => {
    client[method](request, new grpc.Metadata(), { ...deadline(20000), ...callOptions }, (err, reply) => {
      resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', value: reply });
    });
  });
}

function raw(path) {
  return new Promise((resolve) => {
    test.makeUnaryRequest(path, (b) => b, (b) => b, Buffer.alloc(0), new grpc.Metadata(), deadline(20000),
      (err) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' }));
  });
}

function stream(count) {
  return new Promise((resolve) => {
    const messages = [];
    const call = test.Count({ count }, deadline(20000));
    call.on('data', (m) => messages.push(m.message));
    call.on('error', (err) => resolve({ code: err.code, details: err.details, value: messages }));
    call.on('status', (s) => { if (s.code === 0) resolve({ code: 0, details: '', value: messages }); });
  });
}

async function main() {
  const detail = process.env.DTRUST_TRICKY_DETAIL;
  const out = {};
  const ok = await unary(test, 'Echo', { message: 'hello ü' });
  out.unary_ok = { code: ok.code, details: ok.details, value: ok.value && ok.value.message };
  out.error_status = await unary(test, 'Fail', { code: 3, detail });
  out.unknown_method = await raw('/dtrust.test.v1.TestService/Missing');
  out.deadline = await unary(test, 'Sleep', { message: 'node-deadline', sleep_ms: 20000 }, deadline(300));
  const big = await unary(test, 'Echo', { payload: Buffer.alloc(5 * 1024 * 1024) });
  out.too_large = { code: big.code, details: big.details };
  out.server_stream = await stream(5);
  const h = await unary(health, 'Check', { service: '' });
  out.health = { code: h.code, details: h.details, value: h.value && h.value.status };
  out.health_unknown = await unary(health, 'Check', { service: 'no.such.Service' });
  const after = await unary(test, 'Echo', { message: 'still there' });
  out.after = { code: after.code, details: after.details, value: after.value && after.value.message };
  for (const v of Object.values(out)) { if (v.value === undefined) delete v.value; }
  process.stdout.write(JSON.stringify(out) + '\n');
  test.close();
  health.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
