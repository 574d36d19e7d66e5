import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { adminSecretProblem } from "./admin-secret.js";
import { configSchema, type GatewayConfig } from "./schema.js";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Validates a parsed config object; the error names each bad field, what it got, and what it expected. */
export function parseConfig(raw: unknown, source = "config"): GatewayConfig {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join(".") : "(root)";
    // A secret, even a weak one, is never echoed into an error that may end up in logs.
    const got = issue.path.at(-1) === "secret" ? undefined : valueAt(raw, issue.path);
    return `  ${path}: ${issue.message}${got === undefined ? "" : ` (got ${JSON.stringify(got)})`}`;
  });
  throw new ConfigError(`Invalid ${source}:\n${lines.join("\n")}`);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return typeof node === "object" ? undefined : node;
}

/**
 * The admin API's secret: `admin.secret` (checked by the schema) or the trimmed content of `admin.secretPath`, held to
 * the same rule. Throws ConfigError naming the field.
 */
export function readAdminSecret(admin: {
  readonly secret?: string | undefined;
  readonly secretPath?: string | undefined;
}): string {
  if (admin.secret !== undefined) {
    const problem = adminSecretProblem(admin.secret);
    if (problem) throw new ConfigError(`admin.secret: ${problem}`);
    return admin.secret;
  }
  const path = admin.secretPath ?? "";
  let secret: string;
  try {
    secret = readFileSync(path, "utf8").trim();
  } catch (error) {
    throw new ConfigError(`admin.secretPath: cannot read ${path}: ${(error as Error).message}`);
  }
  const problem = adminSecretProblem(secret);
  if (problem) throw new ConfigError(`admin.secretPath: the secret in ${path} is refused: ${problem}`);
  return secret;
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${NAME}` and `${NAME:-default}` in every string value, so secrets and sockets can come from the environment. */
export function expandEnv(node: unknown, env: NodeJS.ProcessEnv, path: string[] = []): unknown {
  if (typeof node === "string") {
    return node.replace(ENV_REFERENCE, (_match, name: string, fallback: string | undefined) => {
      const value = env[name] ?? fallback;
      if (value === undefined) {
        throw new ConfigError(
          `${path.join(".") || "(root)"}: environment variable ${name} is not set and has no default`,
        );
      }
      return value;
    });
  }
  if (Array.isArray(node)) return node.map((item, i) => expandEnv(item, env, [...path, String(i)]));
  if (node !== null && typeof node === "object") {
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, expandEnv(value, env, [...path, key])]));
  }
  return node;
}

/**
 * Reads a YAML config file: `${NAME}` / `${NAME:-default}` in values come from the environment, and relative file
 * paths are resolved against the file's folder.
 */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`Cannot read config file ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    throw new ConfigError(`${path} is not valid YAML: ${(error as Error).message}`);
  }
  const config = parseConfig(expandEnv(raw, env), `config file ${path}`);
  const base = dirname(resolve(path));
  const fromBase = (p: string | undefined) => (p === undefined ? undefined : resolve(base, p));
  const { tls } = config.listen;
  return {
    ...config,
    listen: tls
      ? {
          ...config.listen,
          tls: { ...tls, certPath: resolve(base, tls.certPath), keyPath: resolve(base, tls.keyPath) },
        }
      : config.listen,
    store:
      config.store.path === undefined || config.store.path === ":memory:"
        ? config.store
        : { ...config.store, path: fromBase(config.store.path) },
    lnd: { ...config.lnd, certPath: fromBase(config.lnd.certPath), macaroonPath: fromBase(config.lnd.macaroonPath) },
  };
}
