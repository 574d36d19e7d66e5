import { spawn } from "node:child_process";
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildOnce } from "./build-lock.js";

/** A cheap stand-in for a Go build: writes the "binary" when the test lets it finish. */
function fakeBuild(product: string) {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let builds = 0;
  return {
    release,
    builds: () => builds,
    isBuilt: () =>
      access(product).then(
        () => true,
        () => false,
      ),
    build: async () => {
      builds += 1;
      await released;
      await writeFile(product, "#!/bin/sh\n");
    },
  };
}

/** The pid of a process that has exited (and so cannot hold a lock). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  const pid = child.pid;
  await new Promise((resolve) => child.once("exit", resolve));
  if (pid === undefined) throw new Error("no pid");
  return pid;
}

describe("buildOnce: one build per binary in a shared cache", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "build-lock-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("makes a second concurrent builder wait for the first, say so, and reuse its binary", async () => {
    const product = join(dir, "lnd");
    const lockPath = `${product}.lock`;
    const fake = fakeBuild(product);
    const firstLog: string[] = [];
    const secondLog: string[] = [];
    const first = buildOnce({
      lockPath,
      what: "lnd test",
      isBuilt: fake.isBuilt,
      build: fake.build,
      log: (l) => firstLog.push(l),
      pollMs: 5,
    });
    // The first holds the lock (with its pid) before the second starts; the build is held open until the second has said it waits.
    await expect.poll(() => readFile(lockPath, "utf8").catch(() => "")).toBe(`${process.pid}\n`);
    let sawWait: () => void = () => undefined;
    const waited = new Promise<void>((resolve) => {
      sawWait = resolve;
    });
    const second = buildOnce({
      lockPath,
      what: "lnd test",
      isBuilt: fake.isBuilt,
      build: fake.build,
      log: (line) => {
        secondLog.push(line);
        if (line.startsWith("waiting")) sawWait();
      },
      pollMs: 5,
    });
    await waited;
    fake.release();
    expect(await first).toBe("built");
    expect(await second).toBe("reused");
    expect(fake.builds()).toBe(1);
    expect(secondLog.filter((line) => line.startsWith("waiting"))).toEqual([
      `waiting for pid ${process.pid}, which is building lnd test into the shared cache (lock ${lockPath})`,
    ]);
    expect(firstLog).toEqual([]);
    await expect(access(lockPath)).rejects.toThrow(); // released
  });

  it("takes over the lock of a builder that has died, and builds", async () => {
    const product = join(dir, "btcd");
    const lockPath = `${product}.lock`;
    const dead = await deadPid();
    await writeFile(lockPath, `${dead}\n`);
    const fake = fakeBuild(product);
    fake.release();
    const log: string[] = [];
    expect(
      await buildOnce({
        lockPath,
        what: "btcd test",
        isBuilt: fake.isBuilt,
        build: fake.build,
        log: (l) => log.push(l),
        pollMs: 5,
      }),
    ).toBe("built");
    expect(fake.builds()).toBe(1);
    expect(log).toEqual([`the lock on btcd test was held by pid ${dead}, which has exited; taking it over`]);
    await expect(access(lockPath)).rejects.toThrow();
  });

  it("releases the lock when the build fails, so that the next run builds", async () => {
    const product = join(dir, "aperture");
    const lockPath = `${product}.lock`;
    const failing = buildOnce({
      lockPath,
      what: "aperture test",
      isBuilt: async () => false,
      build: async () => {
        throw new Error("go build failed");
      },
      log: () => undefined,
    });
    await expect(failing).rejects.toThrow("go build failed");
    await expect(access(lockPath)).rejects.toThrow();
    const fake = fakeBuild(product);
    fake.release();
    expect(
      await buildOnce({
        lockPath,
        what: "aperture test",
        isBuilt: fake.isBuilt,
        build: fake.build,
        log: () => undefined,
      }),
    ).toBe("built");
  });
});
