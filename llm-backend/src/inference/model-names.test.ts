import { describe, expect, it } from "vitest";
import { namesServedModel, shortModelName } from "./model-names.js";

describe("names of the served model", () => {
  it("shortens a GGUF id by its quantisation suffix only", () => {
    expect(shortModelName("SmolLM2-135M-Instruct.Q4_1")).toBe("SmolLM2-135M-Instruct");
    expect(shortModelName("Meta-Llama-3-8B-Instruct-Q4_K_M")).toBe("Meta-Llama-3-8B-Instruct");
    expect(shortModelName("qwen2.5-0.5b-instruct-f16")).toBe("qwen2.5-0.5b-instruct");
    expect(shortModelName("tinyllama-IQ2_XS")).toBe("tinyllama");
    expect(shortModelName("my-model")).toBe("my-model");
  });

  it("answers to the full id, the short name and default, and nothing else", () => {
    const id = "SmolLM2-135M-Instruct.Q4_1";
    for (const name of [id, "SmolLM2-135M-Instruct", "default"]) expect(namesServedModel(name, id)).toBe(true);
    for (const name of ["gpt-4o", "SmolLM2", "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q8_0", ""]) {
      expect(namesServedModel(name, id)).toBe(false);
    }
  });
});
