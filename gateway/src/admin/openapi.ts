/** OpenAPI 3.1 description of the admin API, served at GET /admin/openapi.json. */
export const ADMIN_OPENAPI = {
  openapi: "3.1.0",
  info: { title: "l402-gateway admin API", version: "1" },
  components: {
    securitySchemes: { admin: { type: "http", scheme: "bearer" } },
    schemas: {
      Error: {
        type: "object",
        required: ["code", "message"],
        properties: { code: { type: "string" }, message: { type: "string" } },
      },
      PriceRule: {
        type: "object",
        properties: {
          pathPrefix: { type: "string" },
          model: { type: "string" },
          perCallMsat: { type: "integer", minimum: 1 },
          tokens: {
            type: "object",
            required: ["promptMsatPerToken", "completionMsatPerToken"],
            properties: {
              promptMsatPerToken: { type: "integer", minimum: 0 },
              completionMsatPerToken: { type: "integer", minimum: 0 },
            },
          },
          feeMsat: { type: "integer", minimum: 0 },
          minimumMsat: { type: "integer", minimum: 0 },
        },
      },
      Pricing: {
        type: "object",
        required: ["rules"],
        description: "A service's pricing section, as in the config file (see docs/configuration.md)",
        properties: { rules: { type: "array", items: { $ref: "#/components/schemas/PriceRule" }, minItems: 1 } },
      },
      Token: {
        type: "object",
        properties: {
          token_id: { type: "string" },
          service: { type: "string" },
          status: { type: "string", enum: ["issued", "paid", "revoked"] },
          metered: { type: "boolean" },
          price_sats: { type: "integer" },
          balance_msat: { type: "integer" },
          reserved_msat: { type: "integer" },
          credited_msat: { type: "integer" },
          charged_msat: { type: "integer" },
          requests: { type: "integer" },
          created_at: { type: "string", format: "date-time" },
          valid_until: { type: "string", format: "date-time" },
        },
      },
    },
    responses: {
      Unauthorized: {
        description: "Missing or wrong admin secret",
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      },
    },
  },
  security: [{ admin: [] }],
  paths: {
    "/admin/prices": {
      get: {
        summary: "Current pricing of every metered service",
        responses: {
          "200": { description: "{ services: { <name>: Pricing } }" },
          "401": { $ref: "#/components/responses/Unauthorized" },
        },
      },
    },
    "/admin/prices/{service}": {
      put: {
        summary: "Replace a metered service's pricing; applies to the next quote",
        parameters: [{ name: "service", in: "path", required: true, schema: { type: "string" } }],
        requestBody: {
          required: true,
          content: { "application/json": { schema: { $ref: "#/components/schemas/Pricing" } } },
        },
        responses: {
          "200": { description: "The pricing now in force" },
          "400": {
            description: "Invalid pricing",
            content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
          },
          "401": { $ref: "#/components/responses/Unauthorized" },
          "404": { description: "No such metered service" },
        },
      },
    },
    "/admin/tokens": {
      get: {
        summary: "Tokens with their balances and usage, newest first",
        parameters: [
          { name: "status", in: "query", schema: { type: "string", enum: ["issued", "paid", "revoked"] } },
          { name: "service", in: "query", schema: { type: "string" } },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000 } },
        ],
        responses: {
          "200": { description: "{ tokens: Token[] }" },
          "400": { description: "Invalid query" },
          "401": { $ref: "#/components/responses/Unauthorized" },
        },
      },
    },
    "/admin/tokens/{tokenId}/revoke": {
      post: {
        summary: "Revoke a token: its credentials are refused from now on",
        parameters: [
          { name: "tokenId", in: "path", required: true, schema: { type: "string", pattern: "^[0-9a-f]{64}$" } },
        ],
        responses: {
          "200": { description: "The revoked token" },
          "400": { description: "Not a token id" },
          "401": { $ref: "#/components/responses/Unauthorized" },
          "404": { description: "No such token" },
        },
      },
    },
    "/admin/refunds": {
      get: {
        summary: "Refunds of closed prepaid accounts (L402 tokens and Payment sessions), newest first",
        parameters: [
          {
            name: "status",
            in: "query",
            schema: { type: "string", enum: ["pending", "succeeded", "failed", "skipped"] },
          },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000 } },
        ],
        responses: {
          "200": { description: "{ refunds: Refund[] }" },
          "400": { description: "Invalid query" },
          "401": { $ref: "#/components/responses/Unauthorized" },
        },
      },
    },
    "/admin/revenue": {
      get: {
        summary: "Revenue: settled invoices by service, and charges to balances by service and model",
        responses: {
          "200": { description: "{ payments: [...], charges: [...] }" },
          "401": { $ref: "#/components/responses/Unauthorized" },
        },
      },
    },
  },
} as const;
