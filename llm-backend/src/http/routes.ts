import { randomUUID } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import { ApiError } from "../api/api-error.js";
import type { Config } from "../config.js";
import type { GenerationResult } from "../inference/inference.js";
import type { LlmService, PreparedJob } from "../scheduling/service.js";
import { AbortedWhileQueuedError } from "../scheduling/slot-pool.js";

export type ServiceState =
  | { phase: "loading" }
  | { phase: "failed"; error: Error }
  | { phase: "ready"; service: LlmService };

type ResponseKind = "chat" | "completion";

function usageOf(result: GenerationResult) {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.completionTokens,
    total_tokens: result.promptTokens + result.completionTokens,
  };
}

function sendError(res: Response, error: ApiError): void {
  res.status(error.status).set(error.headers).json(error.toBody());
}

/** A response whose client may go away: the signal aborts generation when the connection closes early. */
function abortOnDisconnect(res: Response): AbortController {
  const controller = new AbortController();
  res.on("close", () => {
    if (!res.writableEnded) controller.abort();
  });
  return controller;
}

export function createApp(getState: () => ServiceState, config: Config, logger: Logger): express.Express {
  const app = express();
  app.disable("x-powered-by");
  // Every POST body is parsed as JSON whatever its content type, so a missing header is not a silent empty body.
  app.use(express.json({ limit: config.maxBodyBytes, type: () => true }));

  const requireService = (res: Response): LlmService | undefined => {
    const state = getState();
    if (state.phase === "ready") return state.service;
    const message =
      state.phase === "loading" ? "The model is still loading." : `The model failed to load: ${state.error.message}`;
    sendError(
      res,
      new ApiError(503, message, "service_unavailable_error", null, "model_loading", { "Retry-After": "1" }),
    );
    return undefined;
  };

  /** Runs a handler, mapping ApiErrors to responses and counting them; anything else becomes a 500. */
  const handle =
    (handler: (service: LlmService, req: Request, res: Response) => Promise<void> | void) =>
    async (req: Request, res: Response) => {
      const service = requireService(res);
      if (!service) return;
      try {
        await handler(service, req, res);
      } catch (error) {
        if (error instanceof AbortedWhileQueuedError) return;
        if (error instanceof ApiError) {
          if (error.status < 500) {
            service.metrics.countError(
              error.code === "context_length_exceeded" ? "context_length_exceeded" : "invalid_request",
            );
          }
          if (!res.headersSent) sendError(res, error);
          else if (!res.writableEnded) res.end(`data: ${JSON.stringify(error.toBody())}\n\n`);
          return;
        }
        logger.error({ err: error, path: req.path }, "request failed");
        const internal = new ApiError(500, "Internal server error.", "server_error", null, "internal_error");
        if (!res.headersSent) sendError(res, internal);
        else if (!res.writableEnded) res.end(`data: ${JSON.stringify(internal.toBody())}\n\n`);
      }
    };

  // /health (llama.cpp's name) and /readyz (Kubernetes' name): 200 with load figures once the model is loaded.
  const readiness = (_req: Request, res: Response) => {
    const state = getState();
    if (state.phase === "ready") {
      res.json(state.service.health());
      return;
    }
    const body = state.phase === "loading" ? { status: "loading" } : { status: "error", error: state.error.message };
    res.status(503).json(body);
  };
  app.get("/health", readiness);
  app.get("/readyz", readiness);
  // Liveness: the process answers, even while the model is still loading.
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok", phase: getState().phase });
  });

  app.get(
    "/metrics",
    handle(async (service, _req, res) => {
      res.type(service.metrics.contentType).send(await service.metrics.metricsText());
    }),
  );

  app.get(
    "/v1/models",
    handle((service, _req, res) => {
      res.json({
        object: "list",
        data: [
          {
            id: service.modelId,
            object: "model",
            created: Math.floor(Date.now() / 1000),
            owned_by: "l402-llm-backend",
            context_size: service.contextSize,
            max_model_len: service.contextSize,
            meta: {
              n_ctx: service.contextSize,
              n_ctx_train: service.loaded.model.trainContextSize,
              size: service.loaded.model.size,
              parallel: service.health().slots_total,
              gpu: service.loaded.gpu,
            },
          },
        ],
      });
    }),
  );

  app.post(
    "/tokenize",
    handle((service, req, res) => {
      const tokens = service.tokenize(req.body);
      res.json({ tokens, count: tokens.length });
    }),
  );

  app.post(
    "/v1/chat/completions/input_tokens",
    handle((service, req, res) => {
      res.json({
        object: "chat.completion.input_tokens",
        model: service.modelId,
        input_tokens: service.countChatInputTokens(req.body),
      });
    }),
  );

  app.post(
    "/v1/chat/completions",
    handle(async (service, req, res) => serve(service, await service.prepareChat(req.body), "chat", res)),
  );

  app.post(
    "/v1/completions",
    handle(async (service, req, res) => serve(service, service.prepareCompletion(req.body), "completion", res)),
  );

  app.use((req, res) => {
    sendError(
      res,
      new ApiError(404, `Unknown endpoint: ${req.method} ${req.path}`, "not_found_error", null, "not_found"),
    );
  });

  // body-parser errors (invalid JSON, oversized body) and anything else thrown outside a handler.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const parserType = typeof error === "object" && error !== null && "type" in error ? error.type : undefined;
    const state = getState();
    const countInvalid = () => {
      if (state.phase === "ready") state.service.metrics.countError("invalid_request");
    };
    if (parserType === "entity.too.large") {
      countInvalid();
      sendError(
        res,
        new ApiError(
          413,
          `The request body exceeds ${config.maxBodyBytes} bytes.`,
          "invalid_request_error",
          null,
          "request_too_large",
        ),
      );
      return;
    }
    if (parserType === "entity.parse.failed") {
      countInvalid();
      sendError(
        res,
        new ApiError(400, "The request body is not valid JSON.", "invalid_request_error", null, "invalid_json"),
      );
      return;
    }
    if (typeof parserType === "string") {
      countInvalid();
      sendError(
        res,
        new ApiError(400, `Unreadable request body (${parserType}).`, "invalid_request_error", null, "invalid_body"),
      );
      return;
    }
    logger.error({ err: error }, "unhandled error");
    if (!res.headersSent)
      sendError(res, new ApiError(500, "Internal server error.", "server_error", null, "internal_error"));
  });

  return app;
}

async function serve(service: LlmService, job: PreparedJob, kind: ResponseKind, res: Response): Promise<void> {
  const controller = abortOnDisconnect(res);
  const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const model = service.modelId;

  if (!job.stream) {
    const result = await service.run(job, controller.signal);
    if (controller.signal.aborted) return;
    const choice =
      kind === "chat"
        ? {
            index: 0,
            message: { role: "assistant", content: result.text },
            logprobs: null,
            finish_reason: result.finishReason,
          }
        : { index: 0, text: result.text, logprobs: null, finish_reason: result.finishReason };
    res.json({
      id,
      object: kind === "chat" ? "chat.completion" : "text_completion",
      created,
      model,
      choices: [choice],
      usage: usageOf(result),
      timings: result.timings,
    });
    return;
  }

  const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
  const usageField = job.includeUsage ? { usage: null } : {};
  const send = (payload: unknown) => {
    if (!res.writableEnded) res.write(`data: ${JSON.stringify(payload)}\n\n`);
  };
  const chunk = (text: string | null, finishReason: string | null) => ({
    id,
    object,
    created,
    model,
    choices: [
      kind === "chat"
        ? { index: 0, delta: text === null ? {} : { content: text }, logprobs: null, finish_reason: finishReason }
        : { index: 0, text: text ?? "", logprobs: null, finish_reason: finishReason },
    ],
    ...usageField,
  });

  const result = await service.run(
    job,
    controller.signal,
    (text) => {
      if (text.length > 0) send(chunk(text, null));
    },
    () => {
      res.writeHead(200, {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        Connection: "keep-alive",
        "X-Accel-Buffering": "no",
      });
      res.flushHeaders();
      if (kind === "chat") {
        send({
          id,
          object,
          created,
          model,
          choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }],
          ...usageField,
        });
      }
    },
  );
  if (controller.signal.aborted) return;
  send(chunk(null, result.finishReason));
  if (job.includeUsage) {
    send({ id, object, created, model, choices: [], usage: usageOf(result), timings: result.timings });
  }
  res.end("data: [DONE]\n\n");
}
