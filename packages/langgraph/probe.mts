import { StateGraph, Annotation, MemorySaver, interrupt, Command, getConfig, START, END } from "@langchain/langgraph";
const S = Annotation.Root({ n: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }) });
class Spy extends MemorySaver {
  async put(config: any, cp: any, md: any, nv: any) { console.log("PUT parent", config.configurable, "new", cp.id, "src", md.source, "step", md.step); return super.put(config, cp, md, nv); }
  async putWrites(config: any, w: any, t: string) { console.log("PUTWRITES", config.configurable, t, w.map((x: any) => x[0])); return super.putWrites(config, w, t); }
}
const g = new StateGraph(S).addNode("a", async () => {
  const c = getConfig()!.configurable!;
  console.log("NODE a", { thread: c.thread_id, ns: c.checkpoint_ns, task: c.__pregel_task_id, cpid: c.checkpoint_id, ckpt: c.__pregel_checkpointer?.constructor?.name, led: typeof c.durable_ledger });
  const r = interrupt("q");
  return { n: 1 };
}).addNode("b", async () => ({ n: 10 })).addEdge(START, "a").addEdge("a", "b").addEdge("b", END).compile({ checkpointer: new Spy() });
const cfg = { configurable: { thread_id: "t1", durable_ledger: { x: 1 } } };
console.log(await g.invoke({ n: 0 }, cfg));
console.log(await g.invoke(new Command({ resume: "yes" }), cfg));
