# syntax=docker/dockerfile:1
# Multi-stage build. node-llama-cpp's prebuilt binaries need glibc, so the base is Debian (bookworm), not Alpine.
#   docker build -t l402-gateway .                         # the gateway (default target)
#   docker build --target llm-backend -t l402-llm-backend .  # the LLM backend, CUDA prebuilt binaries included

ARG NODE_VERSION=20.19

FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary is reachable.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential python3 && rm -rf /var/lib/apt/lists/*
ENV NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY l402/package.json l402/tsconfig.json l402/
COPY gateway/package.json gateway/tsconfig.json gateway/
COPY llm-backend/package.json llm-backend/tsconfig.json llm-backend/
COPY agent-client/package.json agent-client/tsconfig.json agent-client/
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY l402/src l402/src
COPY gateway/src gateway/src
COPY llm-backend/src llm-backend/src
COPY agent-client/src agent-client/src
RUN npx tsc -b && npm prune --omit=dev

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/l402/package.json l402/
COPY --from=build /app/l402/dist l402/dist
COPY --from=build /app/gateway/package.json gateway/
COPY --from=build /app/gateway/dist gateway/dist
COPY --from=build /app/llm-backend/package.json llm-backend/
COPY --from=build /app/llm-backend/dist llm-backend/dist
COPY --from=build /app/agent-client/package.json agent-client/
COPY --from=build /app/agent-client/dist agent-client/dist
# No secrets in the image: LND's cert and macaroon, and the config, are mounted at run time.
RUN useradd --system --uid 10402 --home /var/lib/l402 --create-home l402
USER l402

FROM runtime AS llm-backend
ENV L402_LLM_HOST=0.0.0.0 L402_LLM_PORT=8080 L402_LLM_GPU=auto
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.L402_LLM_PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Mount the model and pass --model, or set L402_LLM_MODEL. Run with `--gpus all` for CUDA.
ENTRYPOINT ["node", "llm-backend/dist/cli.js"]

FROM runtime AS gateway
ENV L402_GATEWAY_CONFIG=/etc/l402/gateway.yaml
EXPOSE 8080 9402
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9402/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["sh", "-c", "exec node gateway/dist/cli.js --config \"$L402_GATEWAY_CONFIG\" \"$@\"", "--"]
