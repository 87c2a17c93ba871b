// facilitator.mjs: a resource server that only knows the x402 facilitator
// protocol, @x402/core's HTTPFacilitatorClient, verifying and settling a
// crawler's payment through paycrawl's facilitator.
//
// stdin: {"url": "<facilitator base URL>", "token": "<publisher token>",
//         "paymentPayload": {...}, "paymentRequirements": {...}}
// stdout: {"supported", "verify", "settle", "settleAgain"}: each the
//         client's parsed answer, or {"error", "status"?} when it threw.
import { HTTPFacilitatorClient } from "@x402/core/server";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const auth = { Authorization: `Bearer ${input.token}` };
const client = new HTTPFacilitatorClient({
  url: input.url,
  createAuthHeaders: async () => ({ verify: auth, settle: auth, supported: auth }),
});

async function attempt(fn) {
  try {
    return await fn();
  } catch (e) {
    return { error: String(e?.message ?? e), status: e?.statusCode ?? e?.status };
  }
}

const out = {};
out.supported = await attempt(() => client.getSupported());
out.verify = await attempt(() => client.verify(input.paymentPayload, input.paymentRequirements));
out.settle = await attempt(() => client.settle(input.paymentPayload, input.paymentRequirements));
out.settleAgain = await attempt(() => client.settle(input.paymentPayload, input.paymentRequirements));
process.stdout.write(JSON.stringify(out));
