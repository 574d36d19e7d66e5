/**
 * Run by file.test.ts in many processes at once: waits for "go" on stdin, then makes one update of the store that
 * appends a route, holding the lock a few milliseconds so that two holders at once would lose one of the routes.
 * argv: <store path> <name>.
 */
import { FileStore } from "../store/file.js";

const [path = "", name = ""] = process.argv.slice(2);
const store = new FileStore(path);
process.stdout.write("ready\n");
await new Promise<void>((resolveGo) => process.stdin.once("data", () => resolveGo()));
await store.update((state) => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  state.routes.push({ origin: "https://race.test", scope: `/${name}/`, service: "s" });
});
process.stdin.destroy();
