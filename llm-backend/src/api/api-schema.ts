import { z } from "zod";

const textPart = z.object({ type: z.literal("text"), text: z.string() });

const messageContent = z.union([z.string(), z.array(textPart)]);

export const chatMessageSchema = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: messageContent.nullish(),
  name: z.string().optional(),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;

const maxTokensField = z.number().int().positive().nullish();
const stopField = z.union([z.string(), z.array(z.string()).max(4)]).nullish();

const samplingFields = {
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  seed: z.number().int().nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  stop: stopField,
  n: z.literal(1, { message: "only n=1 is supported" }).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
};

export const responseFormatSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().optional(),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()),
      strict: z.boolean().nullish(),
    }),
  }),
]);
export type ResponseFormat = z.infer<typeof responseFormatSchema>;

export const chatCompletionRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(chatMessageSchema).min(1, { message: "'messages' must contain at least one message" }),
  max_tokens: maxTokensField,
  max_completion_tokens: maxTokensField,
  response_format: responseFormatSchema.nullish(),
  ...samplingFields,
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

export const completionRequestSchema = z.looseObject({
  model: z.string().min(1),
  prompt: z.union([z.string(), z.array(z.string()).length(1, { message: "only one prompt per request is supported" })]),
  max_tokens: maxTokensField,
  ...samplingFields,
});
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

/** llama.cpp's `/tokenize` takes `content`; `messages` counts a chat prompt after the chat template. */
export const tokenizeRequestSchema = z
  .looseObject({
    model: z.string().optional(),
    content: z.string().optional(),
    add_special: z.boolean().optional(),
    messages: z.array(chatMessageSchema).min(1).optional(),
  })
  .refine((body) => (body.content === undefined) !== (body.messages === undefined), {
    message: "give exactly one of 'content' or 'messages'",
    path: ["content"],
  });
export type TokenizeRequest = z.infer<typeof tokenizeRequestSchema>;
