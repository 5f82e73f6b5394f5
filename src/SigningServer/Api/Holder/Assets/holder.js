// The holder's pages: passkey approval and pairing (WebAuthn). Served from our origin only (CSP default-src 'self');
// no third-party code. The server renders every page; this script only talks to the authenticator.
"use strict";

function fromB64url(s) {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "="));
  return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buf) {
  let s = "";
  for (const byte of new Uint8Array(buf)) s += String.fromCharCode(byte);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function post(url, fields) {
  const body = new URLSearchParams(fields);
  const r = await fetch(url, { method: "POST", body, credentials: "same-origin" });
  const json = await r.json().catch(() => ({ error: "unexpected answer (" + r.status + ")" }));
  if (!r.ok || json.error) throw new Error(json.error || "error " + r.status);
  return json;
}

function say(text, isError) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = isError ? "message error" : "message ok";
  status.focus();
}

async function approveWithPasskey(button) {
  const form = button.form;
  const pin = form.elements.pin.value;
  if (!pin) { say(button.dataset.needPin, true); form.elements.pin.focus(); return; }
  button.disabled = true;
  try {
    const base = button.dataset.action;
    const af = form.elements.af.value;
    const options = await post(base + "/passkey/options", { af });
    options.challenge = fromB64url(options.challenge);
    for (const c of options.allowCredentials || []) c.id = fromB64url(c.id);
    const credential = await navigator.credentials.get({ publicKey: options });
    const assertion = {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        authenticatorData: toB64url(credential.response.authenticatorData),
        clientDataJSON: toB64url(credential.response.clientDataJSON),
        signature: toB64url(credential.response.signature),
        userHandle: credential.response.userHandle ? toB64url(credential.response.userHandle) : null,
      },
    };
    const done = await post(base + "/passkey", { af, pin, assertion: JSON.stringify(assertion) });
    if (done.redirect) { window.location.assign(done.redirect); return; }
    document.getElementById("decision").hidden = true;
    say(done.message, false);
  } catch (e) {
    say(e.message || String(e), true);
    button.disabled = false;
  }
}

async function pairPasskey(button) {
  button.disabled = true;
  try {
    const base = button.dataset.action;
    const af = button.dataset.af;
    const options = await post(base + "/options", { af });
    options.challenge = fromB64url(options.challenge);
    options.user.id = fromB64url(options.user.id);
    for (const c of options.excludeCredentials || []) c.id = fromB64url(c.id);
    const credential = await navigator.credentials.create({ publicKey: options });
    const attestation = {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        attestationObject: toB64url(credential.response.attestationObject),
        clientDataJSON: toB64url(credential.response.clientDataJSON),
        transports: credential.response.getTransports ? credential.response.getTransports() : [],
      },
    };
    const name = document.getElementById("device-name").value;
    const done = await post(base + "/finish", { af, name, attestation: JSON.stringify(attestation) });
    say(done.message, false);
  } catch (e) {
    say(e.message || String(e), true);
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const approve = document.getElementById("passkey");
  if (approve) approve.addEventListener("click", () => approveWithPasskey(approve));
  const pair = document.getElementById("pair");
  if (pair) pair.addEventListener("click", () => pairPasskey(pair));
});
