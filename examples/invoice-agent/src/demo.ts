import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ledger, type LedgerEventInput } from "@durable-tools/core";
import { SqliteLedgerStore } from "@durable-tools/sqlite";
import { AIMessage, type BaseMessage, ToolMessage } from "@langchain/core/messages";
import type { StructuredTool } from "@langchain/core/tools";
import { MemorySaver } from "@langchain/langgraph";
import { createAgent } from "langchain";
import { BillingApi } from "./billing-api.js";
import { ScriptedChatModel } from "./scripted-chat-model.js";
import { durableCreateInvoice, plainCreateInvoice } from "./tools.js";

const ORDER = { customer: "cus_ACME", amountCents: 129_900, currency: "EUR" as const };

/**
 * The model asks for the invoice, then asks again: what a model does when an answer timed out, a
 * worker restarted, or it simply is not sure the first call went through.
 */
function invoiceScript(messages: BaseMessage[]): AIMessage {
  const toolResults = messages.filter((m) => ToolMessage.isInstance(m));
  if (toolResults.length < 2) {
    return new AIMessage({
      content: toolResults.length === 0 ? "Creating the invoice." : "Let me make sure the invoice exists.",
      tool_calls: [{ id: `call_${toolResults.length + 1}`, name: "create_invoice", args: ORDER }],
    });
  }
  return new AIMessage({ content: "The invoice for ACME is in place." });
}

export interface AgentRun {
  /** What the model saw after each create_invoice call. */
  toolAnswers: string[];
  /** Invoices the billing system holds at the end: the ground truth. */
  invoicesCreated: number;
  events: LedgerEventInput[];
}

async function runAgent(
  tool: StructuredTool,
  billing: BillingApi,
  events: LedgerEventInput[],
): Promise<AgentRun> {
  const agent = createAgent({
    model: new ScriptedChatModel(invoiceScript),
    tools: [tool],
    checkpointer: new MemorySaver(),
  });
  billing.loseNextAcknowledgements(1);
  const state = await agent.invoke(
    { messages: [{ role: "user", content: "Invoice ACME 1,299.00 EUR for order 42." }] },
    { configurable: { thread_id: "order-42" } },
  );
  const toolAnswers = state.messages
    .filter((m: BaseMessage) => ToolMessage.isInstance(m))
    .map((m: BaseMessage) => String(m.content));
  return { toolAnswers, invoicesCreated: billing.invoices.length, events };
}

/**
 * The same agent, the same lost acknowledgement: once with the plain tool, once with durableTool on
 * the embedded SQLite ledger (a fresh file per run, so every run tells the same story).
 */
export async function runDemo(
  ledgerPath = join(mkdtempSync(join(tmpdir(), "durable-tools-demo-")), "ledger.sqlite"),
): Promise<{ plain: AgentRun; durable: AgentRun & { ledgerPath: string } }> {
  const plainBilling = new BillingApi();
  const plain = await runAgent(plainCreateInvoice(plainBilling), plainBilling, []);

  const durableBilling = new BillingApi();
  const store = SqliteLedgerStore.fromPath(ledgerPath);
  try {
    const ledger = new Ledger({ store });
    const events: LedgerEventInput[] = [];
    ledger.on((event) => events.push(event));
    const durable = await runAgent(durableCreateInvoice(durableBilling, ledger), durableBilling, events);
    return { plain, durable: { ...durable, ledgerPath } };
  } finally {
    await store.close();
  }
}
