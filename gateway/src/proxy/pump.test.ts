import { PassThrough, Readable, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { pump } from "./pump.js";

function sink(): Writable & { received: string } {
  const target = new Writable({
    write(chunk: Buffer, _encoding, done) {
      target.received += chunk.toString();
      done();
    },
  }) as Writable & { received: string };
  target.received = "";
  return target;
}

describe("pump", () => {
  it("copies everything, through a transform if given, and reports completion", async () => {
    const target = sink();
    expect(await pump(Readable.from(["a", "b"]), target)).toBe(true);
    expect(target.received).toBe("ab");
    const through = sink();
    expect(await pump(Readable.from(["c"]), through, new PassThrough())).toBe(true);
    expect(through.received).toBe("c");
  });

  it("reports a source that fails midway and destroys every stream", async () => {
    const source = new Readable({ read() {} });
    const via = new PassThrough();
    const target = sink();
    const done = pump(source, target, via);
    source.push("partial");
    await new Promise((resolve) => setImmediate(resolve));
    source.destroy(new Error("upstream broke"));
    expect(await done).toBe(false);
    expect(target.received).toBe("partial");
    expect([source.destroyed, via.destroyed, target.destroyed]).toEqual([true, true, true]);
  });

  it("reports a target that closes before the end (the client left)", async () => {
    const source = new Readable({ read() {} });
    const target = sink();
    const done = pump(source, target);
    source.push("x");
    target.destroy();
    expect(await done).toBe(false);
    expect(source.destroyed).toBe(true);
  });
});
