import { describe, expect, it } from "vitest";
import { NwcUriError, parseNwcUri } from "./nwc.js";

const pubkey = "a".repeat(64);
const secret = "b".repeat(64);

describe("parseNwcUri", () => {
  it("reads the wallet pubkey, every relay and the secret", () => {
    const uri = `nostr+walletconnect://${pubkey}?relay=wss%3A%2F%2Frelay.one&relay=ws://127.0.0.1:7000&secret=${secret}`;
    expect(parseNwcUri(uri)).toEqual({
      walletPubkey: pubkey,
      relayUrls: ["wss://relay.one", "ws://127.0.0.1:7000"],
      secret,
    });
    expect(parseNwcUri(` nostr+walletconnect:${pubkey}?relay=wss://r&secret=${secret}\n`).walletPubkey).toBe(pubkey);
  });

  it("refuses a malformed URI with a message that never repeats it", () => {
    const bad = [
      `https://${pubkey}?relay=wss://r&secret=${secret}`,
      `nostr+walletconnect://${pubkey.slice(1)}?relay=wss://r&secret=${secret}`,
      `nostr+walletconnect://${pubkey}?secret=${secret}`,
      `nostr+walletconnect://${pubkey}?relay=https://r&secret=${secret}`,
      `nostr+walletconnect://${pubkey}?relay=wss://r&secret=${secret.slice(2)}`,
    ];
    for (const uri of bad) {
      let error: unknown;
      try {
        parseNwcUri(uri);
      } catch (caught) {
        error = caught;
      }
      expect(error, uri).toBeInstanceOf(NwcUriError);
      expect((error as Error).message).not.toContain(secret.slice(2));
      expect((error as Error).message).not.toContain(pubkey.slice(1));
    }
  });
});
