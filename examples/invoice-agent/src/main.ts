import type { LedgerEventInput } from "@durable-tools/core";
import { runDemo } from "./demo.js";

function summarise(answer: string): string {
  try {
    const envelope = JSON.parse(answer);
    if (envelope.ok === false) return `ok=false ${envelope.error.code}: ${envelope.error.message}`;
    if (typeof envelope.effect === "string") {
      return `ok=true effect=${envelope.effect} replayed=${envelope.replayed} invoice=${envelope.data?.id}`;
    }
    return `invoice=${envelope.id}`;
  } catch {
    return answer.split("\n")[0] ?? answer;
  }
}

function describeEvent(event: LedgerEventInput): string {
  switch (event.type) {
    case "transition":
      return `${event.from} -> ${event.to}${event.to === "SUBMITTED" ? ` (attempt ${event.attempt})` : ""}`;
    case "in_doubt":
      return `in doubt: ${String(event.data?.detail)}`;
    case "reconciled":
      return `reconcile asked the billing API: ${String(event.data?.status)}`;
    default:
      return event.type;
  }
}

const { plain, durable } = await runDemo();

console.log(
  "durable-tools demo: an agent invoices ACME 1,299.00 EUR; the first answer from billing is lost.\n",
);
console.log("1. Plain LangChain tool");
for (const [i, answer] of plain.toolAnswers.entries())
  console.log(`   call ${i + 1} -> ${summarise(answer)}`);
console.log(`   invoices created in billing: ${plain.invoicesCreated}\n`);

console.log(`2. durableTool (SQLite ledger at ${durable.ledgerPath}, reconcile hook)`);
for (const [i, answer] of durable.toolAnswers.entries())
  console.log(`   call ${i + 1} -> ${summarise(answer)}`);
console.log("   ledger events:");
for (const event of durable.events) console.log(`     - ${describeEvent(event)}`);
console.log(`   invoices created in billing: ${durable.invoicesCreated}\n`);

const ok = plain.invoicesCreated === 2 && durable.invoicesCreated === 1;
console.log(
  ok
    ? 'Result: the plain tool charged ACME twice; the durable tool created one invoice and answered the repeat with effect "noop".'
    : "Result: UNEXPECTED counts, see above.",
);
console.log(
  `DEMO_RESULT ${JSON.stringify({ plain: plain.invoicesCreated, durable: durable.invoicesCreated })}`,
);
process.exitCode = ok ? 0 : 1;
