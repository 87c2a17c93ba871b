// x402.mjs: what @x402/core (the x402 Foundation's TypeScript client) makes
// of paycrawl's x402 headers, judged with its own decoder, schemas and client.
//
// stdin: {"paymentRequired"?: "<PAYMENT-REQUIRED header>",
//         "paymentResponse"?: "<PAYMENT-RESPONSE header>",
//         "spendControls"?: "default" | "declared-asset" | "allowed-asset"}
// stdout: {"paymentRequired", "paymentSignature", "paymentPayload", "settleResponse"}
// On a refusal it exits 1 with @x402/core's message on stderr.
//
// spendControls:
//   default         x402Client's defaults; the scheme client declares no asset
//   declared-asset  the scheme client's findDefaultAsset names USD, 6 decimals
//                   (micro-units, docs/x402-binding-paycrawl.md)
//   allowed-asset   setSpendControls({allowedAssets: [paycrawl:402 USD]})
import { x402Client, x402HTTPClient } from "@x402/core/client";
import { decodePaymentRequiredHeader, decodePaymentSignatureHeader } from "@x402/core/http";
import { validatePaymentPayload, validatePaymentRequired } from "@x402/core/schemas";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
const mode = input.spendControls ?? "default";

// @x402/core ships no batch-settlement client: this is the one a crawler
// registers for paycrawl:402. Its commitment is the offered amount and
// asset, in the binding's unit; the HTTP Message Signature is added by the
// crawler's signer (web-bot-auth), not by x402.
const scheme = {
  scheme: "batch-settlement",
  async createPaymentPayload(x402Version, requirements) {
    return { x402Version, payload: { amount: requirements.amount, asset: requirements.asset } };
  },
};
if (mode === "declared-asset") {
  scheme.findDefaultAsset = (asset, network) =>
    network.startsWith("paycrawl:") && asset === "USD" ? { asset: "USD", symbol: "USD", decimals: 6 } : undefined;
}

const client = new x402Client().register("paycrawl:402", scheme);
if (mode === "allowed-asset") {
  client.setSpendControls({ allowedAssets: [{ network: "paycrawl:402", asset: "USD" }] });
}
const http = new x402HTTPClient(client);
const out = { mode };
try {
  if (input.paymentRequired) {
    const paymentRequired = http.getPaymentRequiredResponse((name) =>
      name === "PAYMENT-REQUIRED" ? input.paymentRequired : null,
    );
    validatePaymentRequired(decodePaymentRequiredHeader(input.paymentRequired));
    out.paymentRequired = paymentRequired;
    const payload = await http.createPaymentPayload(paymentRequired);
    validatePaymentPayload(payload);
    out.paymentSignature = http.encodePaymentSignatureHeader(payload)["PAYMENT-SIGNATURE"];
    out.paymentPayload = decodePaymentSignatureHeader(out.paymentSignature);
  }
  if (input.paymentResponse) {
    out.settleResponse = http.getPaymentSettleResponse((name) =>
      name === "PAYMENT-RESPONSE" ? input.paymentResponse : null,
    );
  }
} catch (err) {
  process.stderr.write(`${err && err.message ? err.message : err}\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(out) + "\n");
