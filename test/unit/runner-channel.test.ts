// The socket channel's listener (agents/runner-channel.ts) on real Unix sockets: who may reach the directory and
// the socket, exactly one connection taken, nothing left on disk afterwards, and what an agent start clears.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChannelListener, agentChannelDir, clearChannelDirs } from "../../agents/runner-channel.js";

const connect = (path: string) =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(path, () => resolve(s));
    s.once("error", reject);
  });

describe("runner channel listener", () => {
  test("a 0700 directory with a 0600 socket; one connection taken, then the socket and directory are gone", async () => {
    const root = await mkdtemp(join(tmpdir(), "weft-ch-"));
    try {
      const agentDir = agentChannelDir(root, "agent-under-test");
      const listener = await ChannelListener.open(agentDir);
      assert.equal(statSync(listener.dir).mode & 0o777, 0o700);
      assert.equal(statSync(join(listener.dir, "ch")).mode & 0o777, 0o600);
      const runner = await connect(join(listener.dir, "ch"));
      const accepted = await listener.connection();
      accepted.resume();
      const got = new Promise<string>((resolve) => accepted.once("data", (d: Buffer) => resolve(d.toString())));
      runner.write('{"t":"ready","protocol":2}\n');
      assert.equal(await got, '{"t":"ready","protocol":2}\n');
      await listener.dispose();
      assert.equal(existsSync(listener.dir), false, "the directory outlived the connection");
      await assert.rejects(connect(join(listener.dir, "ch")), /ENOENT/);
      // The accepted connection lives on after the listener has gone.
      const back = new Promise<string>((resolve) => runner.once("data", (d: Buffer) => resolve(d.toString())));
      accepted.write("pong");
      assert.equal(await back, "pong");
      runner.destroy();
      accepted.destroy();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test("waiting for the runner ends when the container is given up", async () => {
    const root = await mkdtemp(join(tmpdir(), "weft-ch-"));
    try {
      const listener = await ChannelListener.open(agentChannelDir(root, "a"));
      const waiting = listener.connection();
      listener.fail(new Error("the container exited before its runner connected"));
      await assert.rejects(waiting, /exited before its runner connected/);
      await listener.dispose();
      assert.equal(existsSync(listener.dir), false);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test("an agent's directory is its own, short enough for a socket path, and cleared at start", async () => {
    const root = await mkdtemp(join(tmpdir(), "weft-ch-"));
    try {
      const a = agentChannelDir(root, "x".repeat(128));
      assert.notEqual(a, agentChannelDir(root, "y"));
      assert.ok(Buffer.byteLength(join(a, "01234567", "ch")) < 108);
      assert.throws(() => agentChannelDir(`/${"r".repeat(100)}`, "a"), /longer than/);
      await mkdir(join(a, "deadbeef"), { recursive: true });
      await clearChannelDirs(a);
      assert.equal(existsSync(a), false);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
