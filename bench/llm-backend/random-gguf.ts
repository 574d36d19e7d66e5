/**
 * Writes a random-weight GGUF in a real llama shape, with the tokenizer metadata (`tokenizer.*`, chat template
 * included) copied byte for byte from the default model. Decoding speed depends on the shape and the quantisation,
 * not on the weight values, so this lets benchmarks run larger shapes where no model can be downloaded.
 *
 *   npx tsx bench/llm-backend/random-gguf.ts --shape 1b [--out PATH] [--tokenizer-from PATH]
 */
import { randomFillSync } from "node:crypto";
import { open, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { defaultModelPath, modelsDir } from "../../llm-backend/src/inference/default-model.js";

export interface LlamaShape {
  embedding: number;
  layers: number;
  heads: number;
  kvHeads: number;
  feedForward: number;
  contextLength: number;
  ropeFreqBase: number;
}

/** Shapes of published models: SmolLM2-135M, Llama 3.2 1B, Llama 3.1 8B (vocabulary from the copied tokenizer). */
export const SHAPES = {
  tiny: {
    embedding: 576,
    layers: 30,
    heads: 9,
    kvHeads: 3,
    feedForward: 1536,
    contextLength: 8192,
    ropeFreqBase: 100000,
  },
  "1b": {
    embedding: 2048,
    layers: 16,
    heads: 32,
    kvHeads: 8,
    feedForward: 8192,
    contextLength: 8192,
    ropeFreqBase: 500000,
  },
  "8b": {
    embedding: 4096,
    layers: 32,
    heads: 32,
    kvHeads: 8,
    feedForward: 14336,
    contextLength: 8192,
    ropeFreqBase: 500000,
  },
} satisfies Record<string, LlamaShape>;
export type ShapeName = keyof typeof SHAPES;

const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
const ALIGNMENT = 32;
enum ValueType {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
}
const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const GGML_TYPE_F32 = 0;
const GGML_TYPE_Q4_0 = 2;
const Q4_0_BLOCK_ELEMENTS = 32;
const Q4_0_BLOCK_BYTES = 18;
const FILE_TYPE_MOSTLY_Q4_0 = 2;

/** The tokenizer KV pairs of a GGUF file, as raw bytes, and the vocabulary size. */
export async function readTokenizerMetadata(path: string): Promise<{ raw: Buffer[]; vocabSize: number }> {
  const handle = await open(path, "r");
  try {
    const size = (await handle.stat()).size;
    const buffer = Buffer.alloc(Math.min(size, 64 * 1024 * 1024));
    await handle.read(buffer, 0, buffer.length, 0);
    if (buffer.readUInt32LE(0) !== GGUF_MAGIC) throw new Error(`${path} is not a GGUF file`);
    let offset = 8;
    offset += 8; // tensor count
    const kvCount = Number(buffer.readBigUInt64LE(offset));
    offset += 8;
    const skipString = (at: number) => at + 8 + Number(buffer.readBigUInt64LE(at));
    const skipValue = (at: number, type: number): number => {
      if (type === ValueType.String) return skipString(at);
      if (type === ValueType.Array) {
        const elementType = buffer.readUInt32LE(at);
        const count = Number(buffer.readBigUInt64LE(at + 4));
        let cursor = at + 12;
        const fixed = SCALAR_SIZE[elementType];
        if (fixed !== undefined) return cursor + fixed * count;
        for (let i = 0; i < count; i++) cursor = skipValue(cursor, elementType);
        return cursor;
      }
      const fixed = SCALAR_SIZE[type];
      if (fixed === undefined) throw new Error(`unknown GGUF value type ${type}`);
      return at + fixed;
    };
    const raw: Buffer[] = [];
    let vocabSize = 0;
    for (let i = 0; i < kvCount; i++) {
      const start = offset;
      const keyLength = Number(buffer.readBigUInt64LE(offset));
      const key = buffer.toString("utf8", offset + 8, offset + 8 + keyLength);
      offset += 8 + keyLength;
      const type = buffer.readUInt32LE(offset);
      if (key === "tokenizer.ggml.tokens") vocabSize = Number(buffer.readBigUInt64LE(offset + 8));
      offset = skipValue(offset + 4, type);
      if (key.startsWith("tokenizer.")) raw.push(Buffer.from(buffer.subarray(start, offset)));
    }
    if (vocabSize === 0) throw new Error(`${path} has no tokenizer.ggml.tokens`);
    return { raw, vocabSize };
  } finally {
    await handle.close();
  }
}

function ggufString(value: string): Buffer {
  const bytes = Buffer.from(value, "utf8");
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(bytes.length));
  return Buffer.concat([length, bytes]);
}

function kv(key: string, type: ValueType.U32 | ValueType.F32 | ValueType.String, value: number | string): Buffer {
  const header = Buffer.concat([ggufString(key), Buffer.alloc(4)]);
  header.writeUInt32LE(type, header.length - 4);
  if (type === ValueType.String) return Buffer.concat([header, ggufString(String(value))]);
  const body = Buffer.alloc(4);
  if (type === ValueType.U32) body.writeUInt32LE(Number(value));
  else body.writeFloatLE(Number(value));
  return Buffer.concat([header, body]);
}

interface TensorSpec {
  name: string;
  dims: number[];
  type: typeof GGML_TYPE_F32 | typeof GGML_TYPE_Q4_0;
}

function tensorBytes(tensor: TensorSpec): number {
  const elements = tensor.dims.reduce((a, b) => a * b, 1);
  return tensor.type === GGML_TYPE_F32 ? elements * 4 : (elements / Q4_0_BLOCK_ELEMENTS) * Q4_0_BLOCK_BYTES;
}

const alignUp = (value: number) => Math.ceil(value / ALIGNMENT) * ALIGNMENT;

function tensorsFor(shape: LlamaShape, vocabSize: number): TensorSpec[] {
  const headDim = shape.embedding / shape.heads;
  const kvDim = headDim * shape.kvHeads;
  const tensors: TensorSpec[] = [
    { name: "token_embd.weight", dims: [shape.embedding, vocabSize], type: GGML_TYPE_Q4_0 },
    { name: "output_norm.weight", dims: [shape.embedding], type: GGML_TYPE_F32 },
  ];
  for (let layer = 0; layer < shape.layers; layer++) {
    const blk = `blk.${layer}`;
    tensors.push(
      { name: `${blk}.attn_norm.weight`, dims: [shape.embedding], type: GGML_TYPE_F32 },
      { name: `${blk}.attn_q.weight`, dims: [shape.embedding, shape.embedding], type: GGML_TYPE_Q4_0 },
      { name: `${blk}.attn_k.weight`, dims: [shape.embedding, kvDim], type: GGML_TYPE_Q4_0 },
      { name: `${blk}.attn_v.weight`, dims: [shape.embedding, kvDim], type: GGML_TYPE_Q4_0 },
      { name: `${blk}.attn_output.weight`, dims: [shape.embedding, shape.embedding], type: GGML_TYPE_Q4_0 },
      { name: `${blk}.ffn_norm.weight`, dims: [shape.embedding], type: GGML_TYPE_F32 },
      { name: `${blk}.ffn_gate.weight`, dims: [shape.embedding, shape.feedForward], type: GGML_TYPE_Q4_0 },
      { name: `${blk}.ffn_down.weight`, dims: [shape.feedForward, shape.embedding], type: GGML_TYPE_Q4_0 },
      { name: `${blk}.ffn_up.weight`, dims: [shape.embedding, shape.feedForward], type: GGML_TYPE_Q4_0 },
    );
  }
  return tensors;
}

/** One reusable chunk of Q4_0 blocks: a small fixed scale (0.02 as f16) and random 4-bit weights. */
function q4Chunk(blocks: number): Buffer {
  const chunk = Buffer.alloc(blocks * Q4_0_BLOCK_BYTES);
  randomFillSync(chunk);
  for (let block = 0; block < blocks; block++) chunk.writeUInt16LE(0x251f, block * Q4_0_BLOCK_BYTES);
  return chunk;
}

export async function writeRandomGguf(
  shapeName: ShapeName,
  outPath: string,
  tokenizerSource: string = defaultModelPath(),
  progress: (message: string) => void = console.log,
): Promise<void> {
  const shape: LlamaShape = SHAPES[shapeName];
  const { raw: tokenizerKvs, vocabSize } = await readTokenizerMetadata(tokenizerSource);
  const tensors = tensorsFor(shape, vocabSize);
  const kvs = [
    kv("general.architecture", ValueType.String, "llama"),
    kv("general.name", ValueType.String, `random-llama-${shapeName}`),
    kv("general.file_type", ValueType.U32, FILE_TYPE_MOSTLY_Q4_0),
    kv("llama.context_length", ValueType.U32, shape.contextLength),
    kv("llama.embedding_length", ValueType.U32, shape.embedding),
    kv("llama.block_count", ValueType.U32, shape.layers),
    kv("llama.feed_forward_length", ValueType.U32, shape.feedForward),
    kv("llama.rope.dimension_count", ValueType.U32, shape.embedding / shape.heads),
    kv("llama.attention.head_count", ValueType.U32, shape.heads),
    kv("llama.attention.head_count_kv", ValueType.U32, shape.kvHeads),
    kv("llama.attention.layer_norm_rms_epsilon", ValueType.F32, 1e-5),
    kv("llama.rope.freq_base", ValueType.F32, shape.ropeFreqBase),
    kv("llama.vocab_size", ValueType.U32, vocabSize),
    ...tokenizerKvs,
  ];
  const header = Buffer.alloc(24);
  header.writeUInt32LE(GGUF_MAGIC, 0);
  header.writeUInt32LE(3, 4);
  header.writeBigUInt64LE(BigInt(tensors.length), 8);
  header.writeBigUInt64LE(BigInt(kvs.length), 16);
  const infos: Buffer[] = [];
  let dataOffset = 0;
  for (const tensor of tensors) {
    const info = Buffer.alloc(4 + 8 * tensor.dims.length + 4 + 8);
    let at = info.writeUInt32LE(tensor.dims.length, 0);
    for (const dim of tensor.dims) at = info.writeBigUInt64LE(BigInt(dim), at);
    at = info.writeUInt32LE(tensor.type, at);
    info.writeBigUInt64LE(BigInt(dataOffset), at);
    infos.push(ggufString(tensor.name), info);
    dataOffset = alignUp(dataOffset + tensorBytes(tensor));
  }
  const meta = Buffer.concat([header, ...kvs, ...infos]);
  const totalBytes = alignUp(meta.length) + dataOffset;
  progress(`writing ${outPath}: llama ${shapeName}, vocab ${vocabSize}, ${(totalBytes / 2 ** 30).toFixed(2)} GiB`);

  const partial = `${outPath}.partial`;
  const handle = await open(partial, "w");
  try {
    await handle.write(meta);
    await handle.write(Buffer.alloc(alignUp(meta.length) - meta.length));
    const q4 = q4Chunk(1 << 16);
    const ones = Buffer.alloc(4 * shape.feedForward);
    for (let i = 0; i < shape.feedForward; i++) ones.writeFloatLE(1, i * 4);
    let written = 0;
    let reported = 0;
    for (const tensor of tensors) {
      const bytes = tensorBytes(tensor);
      const source = tensor.type === GGML_TYPE_F32 ? ones : q4;
      for (let done = 0; done < bytes; done += source.length) {
        await handle.write(source, 0, Math.min(source.length, bytes - done));
      }
      await handle.write(Buffer.alloc(alignUp(bytes) - bytes));
      written += alignUp(bytes);
      if (written - reported > totalBytes / 10) {
        reported = written;
        progress(`  ${Math.round((100 * written) / dataOffset)}%`);
      }
    }
  } finally {
    await handle.close();
  }
  await rename(partial, outPath);
  progress("done");
}

export function randomModelPath(shapeName: ShapeName): string {
  return join(modelsDir(), `random-llama-${shapeName}.Q4_0.gguf`);
}

/** The random model of that shape, written on first use and reused after. */
export async function ensureRandomModel(shapeName: ShapeName, progress: (message: string) => void): Promise<string> {
  const path = randomModelPath(shapeName);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isFile()) return path;
  await writeRandomGguf(shapeName, path, defaultModelPath(), progress);
  return path;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      shape: { type: "string", default: "1b" },
      out: { type: "string" },
      "tokenizer-from": { type: "string" },
    },
  });
  const shapeName = values.shape as ShapeName;
  if (!(shapeName in SHAPES))
    throw new Error(`unknown --shape ${values.shape}; one of ${Object.keys(SHAPES).join(", ")}`);
  await writeRandomGguf(
    shapeName,
    values.out ?? randomModelPath(shapeName),
    values["tokenizer-from"] ?? defaultModelPath(),
  );
}
