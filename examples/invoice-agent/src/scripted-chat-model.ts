import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, type BaseMessage } from "@langchain/core/messages";
import type { ChatResult } from "@langchain/core/outputs";

/** Decides the model's next message from the conversation so far. */
export type Script = (messages: BaseMessage[]) => AIMessage;

/**
 * A chat model that follows a script instead of calling an API, so the demo runs with no key and
 * behaves the same on every run. It accepts tools (`bindTools`) like a real tool-calling model.
 */
export class ScriptedChatModel extends BaseChatModel {
  readonly #script: Script;

  constructor(script: Script) {
    super({});
    this.#script = script;
  }

  _llmType(): string {
    return "scripted";
  }

  override bindTools(): this {
    return this;
  }

  async _generate(messages: BaseMessage[]): Promise<ChatResult> {
    const message = this.#script(messages);
    return { generations: [{ message, text: typeof message.content === "string" ? message.content : "" }] };
  }
}

export { AIMessage };
