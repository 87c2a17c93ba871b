// request.mjs signs crawler requests with Cloudflare's own signer (npm
// web-bot-auth), for the gateway's interop test (internal/gateway). It reads
// one JSON request on stdin and writes one JSON answer on stdout; any
// failure exits non-zero with the reason on stderr.
//
//   node request.mjs keygen  {}
//     → {"jwk"}: a fresh Ed25519 private JWK made by WebCrypto, the key the
//       library signs with (the Go test registers its public half).
//   node request.mjs sign    {"jwk", "url", "agent", "headers"?, "cover"?}
//     → {"Signature-Agent", "Signature-Input", "Signature"}: the request
//       GET url with Signature-Agent the sf-string "agent" (the form
//       Cloudflare's verifier reads) and the extra headers, signed by
//       signatureHeaders with the library's defaults: its components
//       (@authority and signature-agent), a fresh 64-byte nonce, tag
//       web-bot-auth, five minutes of validity. "cover" lists header names
//       to cover besides the defaults (a payment header, as the x402
//       batch-settlement binding covers payment-signature).
//   node request.mjs verify  {"jwk", "url", "headers"}
//     → {"ok": true, "keyid"}: the request GET url with those headers
//       (Signature-Agent, Signature-Input, Signature and what they cover)
//       checked by the library's own verify with the public JWK; a refusal
//       exits non-zero with the library's reason.
import { signatureHeaders, verify as verifyRequest, REQUEST_COMPONENTS } from "web-bot-auth";
import { signerFromJWK, verifierFromJWK } from "web-bot-auth/crypto";

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const text = Buffer.concat(chunks).toString("utf8");
  return text.trim() === "" ? {} : JSON.parse(text);
}

async function keygen() {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  return { jwk: await crypto.subtle.exportKey("jwk", pair.privateKey) };
}

async function sign({ jwk, url, agent, headers = {}, cover = [] }) {
  const signatureAgent = JSON.stringify(agent); // an sf-string: "https://…"
  const all = { ...headers, "Signature-Agent": signatureAgent };
  const request = new Request(url, { headers: all });
  const now = new Date();
  const params = { created: now, expires: new Date(now.getTime() + 300_000) };
  if (cover.length > 0) {
    params.components = [...REQUEST_COMPONENTS, ...cover];
  }
  const signed = await signatureHeaders(request, await signerFromJWK(jwk), params);
  return { "Signature-Agent": signatureAgent, ...signed };
}

async function verify({ jwk, url, headers }) {
  const verifier = await verifierFromJWK(jwk);
  let keyid = "";
  await verifyRequest(new Request(url, { headers }), async (data, signature, params) => {
    keyid = params.keyid;
    return verifier(data, signature, params);
  });
  return { ok: true, keyid };
}

const commands = { keygen, sign, verify };
const cmd = commands[process.argv[2]];
if (!cmd) {
  process.stderr.write(`usage: node request.mjs ${Object.keys(commands).join("|")} < request.json\n`);
  process.exit(2);
}
try {
  process.stdout.write(JSON.stringify(await cmd(await readStdin())) + "\n");
} catch (err) {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
}
