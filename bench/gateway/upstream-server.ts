// A trivial upstream for the benchmark: a small JSON body for every request. Prints its URL on stdout.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const body = JSON.stringify({ id: "cmpl-bench", choices: [{ text: "ok" }], usage: { total_tokens: 3 } });
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
