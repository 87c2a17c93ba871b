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
//   node directory.mjs verify-directory  {"url", "status", "headers", "body"}
//     → {"proven": [keyid…], "signatures": [{"label", "keyid", "listed",
//       "components", "digest", "error"}…]}: a verifier that, as Cloudflare
//       says it does, uses only the keys of the directory (the body's JWKS)
//       that carry a signature of their own: each Signature-Input member
//       with the directory tag is verified on its own, with the listed key
//       its keyid names, by the library's verify (which takes one signature
//       at a time: each member is cut out of both fields, through
//       structured-headers, the library's own parser). A member whose keyid
//       the directory does not list proves nothing and is reported unlisted.
import { createHash } from "node:crypto";
import { verify } from "http-message-sig";
import { parseDictionary, serializeDictionary } from "structured-headers";
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

function header(headers, name) {
  return Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
}

async function verifyDirectory({ url, status, headers, body }) {
  const byID = new Map();
  for (const jwk of JSON.parse(body).keys) {
    byID.set(await jwkToKeyID(jwk, helpers.WEBCRYPTO_SHA256, helpers.BASE64URL_DECODE), jwk);
  }
  const inputs = parseDictionary(String(header(headers, "signature-input") ?? ""));
  const sigs = parseDictionary(String(header(headers, "signature") ?? ""));
  const rest = Object.fromEntries(Object.entries(headers).filter(([k]) => !["signature-input", "signature"].includes(k.toLowerCase())));
  const proven = [];
  const signatures = [];
  for (const [label, member] of inputs) {
    const keyid = member[1].get("keyid");
    if (member[1].get("tag") !== Tag.HTTP_MESSAGE_SIGNAGURES_DIRECTORY) continue;
    const jwk = byID.get(keyid);
    if (!jwk) {
      signatures.push({ label, keyid, listed: false });
      continue;
    }
    const one = {
      ...rest,
      "Signature-Input": serializeDictionary(new Map([[label, member]])),
      Signature: serializeDictionary(new Map([[label, sigs.get(label)]])),
    };
    try {
      const got = await check({ url, status, headers: one, body, jwk });
      signatures.push({ label, keyid, listed: true, components: got.components, digest: got.digest });
      if (!proven.includes(keyid)) proven.push(keyid);
    } catch (e) {
      signatures.push({ label, keyid, listed: true, error: String(e.message ?? e) });
    }
  }
  return { proven, signatures };
}

const mode = process.argv[2];
const input = await readStdin();
let out;
if (mode === "sign") out = await sign(input);
else if (mode === "verify") out = await check(input);
else if (mode === "verify-directory") out = await verifyDirectory(input);
else throw new Error(`unknown mode ${mode}: want sign, verify or verify-directory`);
process.stdout.write(JSON.stringify(out) + "\n");
