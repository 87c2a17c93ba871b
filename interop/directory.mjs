// directory.mjs signs and verifies key directory responses with Cloudflare's
// own code (npm web-bot-auth and http-message-sig), for the Go tests in
// internal/interop. It reads one JSON request on stdin and writes one JSON
// answer on stdout; any failure exits non-zero with the reason on stderr.
//
//   node directory.mjs sign    {"authority", "jwk" (private Ed25519 JWK)}
//     → {"Signature", "Signature-Input"}, as directoryResponseHeaders makes
//       them for GET https://<authority>/.well-known/http-message-signatures-directory
//   node directory.mjs verify  {"url", "status", "headers", "body", "jwk" (public)}
//     → {"keyid", "label", "components", "digest"}: the response's one
//       signature verifies with jwk under the library's verify, its tag is
//       http-message-signatures-directory, created is not in the future,
//       expires is not past, and a covered Content-Digest matches body.
import { createHash } from "node:crypto";
import { verify } from "http-message-sig";
import { directoryResponseHeaders, HTTP_MESSAGE_SIGNATURES_DIRECTORY, jwkToKeyID, helpers, Tag } from "web-bot-auth";
import { signerFromJWK, verifierFromJWK } from "web-bot-auth/crypto";

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function sign({ authority, jwk }) {
  const signer = await signerFromJWK(jwk);
  const created = new Date();
  const expires = new Date(created.getTime() + 3600_000);
  const message = {
    request: { method: "GET", url: `https://${authority}${HTTP_MESSAGE_SIGNATURES_DIRECTORY}`, headers: {} },
    response: { status: 200, headers: {} },
  };
  return directoryResponseHeaders(message, [signer], { created, expires });
}

async function check({ url, status, headers, body, jwk }) {
  const keyid = await jwkToKeyID(jwk, helpers.WEBCRYPTO_SHA256, helpers.BASE64URL_DECODE);
  const verifyKey = await verifierFromJWK(jwk);
  const message = {
    request: { method: "GET", url, headers: {} },
    response: { status, headers },
  };
  let seen;
  // http-message-sig 0.2.0 passes no component list to the callback: read
  // the covered components off the signature base it built.
  await verify(message, async (data, signature, params) => {
    if (params.tag !== Tag.HTTP_MESSAGE_SIGNAGURES_DIRECTORY) throw new Error(`tag ${params.tag}`);
    if (params.keyid !== keyid) throw new Error(`keyid ${params.keyid}, want ${keyid}`);
    if (!(params.created instanceof Date) || params.created.getTime() > Date.now() + 30_000) throw new Error("created missing or in the future");
    if (!(params.expires instanceof Date) || params.expires.getTime() < Date.now()) throw new Error("expires missing or past");
    await verifyKey(data, signature, params);
    seen = data
      .split("\n")
      .map((line) => line.match(/^"([^"]+)"/)?.[1])
      .filter((name) => name && name !== "@signature-params");
  });
  let digest = false;
  if (seen.includes("content-digest")) {
    const want = "sha-256=:" + createHash("sha256").update(body, "utf8").digest("base64") + ":";
    const got = Object.entries(headers).find(([k]) => k.toLowerCase() === "content-digest")?.[1];
    if (got !== want) throw new Error(`Content-Digest ${got}, want ${want}`);
    digest = true;
  }
  const label = String(Object.entries(headers).find(([k]) => k.toLowerCase() === "signature-input")?.[1]).split("=")[0];
  return { keyid, label, components: seen, digest };
}

const mode = process.argv[2];
const input = await readStdin();
let out;
if (mode === "sign") out = await sign(input);
else if (mode === "verify") out = await check(input);
else throw new Error(`unknown mode ${mode}: want sign or verify`);
process.stdout.write(JSON.stringify(out) + "\n");
