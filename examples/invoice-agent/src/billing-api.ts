/** A timeout after the request was sent: the downstream may have acted (the lost acknowledgement). */
export class GatewayTimeoutError extends Error {
  readonly code = "ETIMEDOUT";
  constructor() {
    super("billing API did not answer within 5 s (ETIMEDOUT)");
    this.name = "GatewayTimeoutError";
  }
}

export interface Invoice {
  id: string;
  customer: string;
  amountCents: number;
  currency: string;
  /** The idempotency key the caller sent, if any (what reconcile looks up). */
  requestKey: string | undefined;
}

/**
 * The remote billing system the agent writes to. `invoices` is the ground truth: every invoice it
 * ever created. `loseNextAcknowledgements(n)` makes the next n calls create the invoice and then time
 * out before the answer reaches the caller.
 */
export class BillingApi {
  readonly invoices: Invoice[] = [];
  #lostAcks = 0;

  loseNextAcknowledgements(count: number): void {
    this.#lostAcks = count;
  }

  async createInvoice(
    input: { customer: string; amountCents: number; currency: string },
    requestKey?: string,
  ) {
    const invoice: Invoice = { id: `in_${1000 + this.invoices.length + 1}`, ...input, requestKey };
    this.invoices.push(invoice);
    if (this.#lostAcks > 0) {
      this.#lostAcks--;
      throw new GatewayTimeoutError();
    }
    return invoice;
  }

  /** Search by the idempotency key the invoice was created with. */
  async findByRequestKey(requestKey: string): Promise<Invoice | undefined> {
    return this.invoices.find((invoice) => invoice.requestKey === requestKey);
  }
}
