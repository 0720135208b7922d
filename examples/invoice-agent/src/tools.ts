import type { Ledger } from "@durable-tools/core";
import { durableTool } from "@durable-tools/langchain";
import { tool } from "@langchain/core/tools";
import { z } from "zod";
import type { BillingApi, Invoice } from "./billing-api.js";

export const createInvoiceSchema = z.object({
  customer: z.string().describe("Customer id"),
  amountCents: z.number().int().positive().describe("Amount in cents"),
  currency: z.enum(["EUR", "USD"]),
});
type CreateInvoiceArgs = z.infer<typeof createInvoiceSchema>;

const description = "Create an invoice for a customer.";

/** The tool as most agents have it today: every call is a new invoice. */
export function plainCreateInvoice(billing: BillingApi) {
  return tool(async (args: CreateInvoiceArgs) => JSON.stringify(await billing.createInvoice(args)), {
    name: "create_invoice",
    description,
    schema: createInvoiceSchema,
  });
}

/** The same tool made durable: one invoice per intended operation, whatever the retries. */
export function durableCreateInvoice(billing: BillingApi, ledger: Ledger) {
  return durableTool<CreateInvoiceArgs, Invoice>({
    name: "create_invoice",
    description,
    schema: createInvoiceSchema,
    sideEffect: "write",
    ledger,
    effect: "created",
    // The key travels downstream, so an in-doubt call can be looked up there.
    submit: (args, ctx) => billing.createInvoice(args, ctx.idempotencyKey),
    reconcile: async (_args, ctx) => {
      const found = await billing.findByRequestKey(ctx.idempotencyKey);
      return found ? { status: "applied", result: found } : { status: "not_applied" };
    },
    plan: (args) => ({
      effect: "would_create",
      changes: [
        `create an invoice of ${(args.amountCents / 100).toFixed(2)} ${args.currency} for ${args.customer}`,
      ],
    }),
  });
}
