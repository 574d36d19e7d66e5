import { parseConfig, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import pino from "pino";
import { testNetwork } from "../regtest/context.js";
import { gatewayLndConfig } from "../regtest/network-file.js";

/** A gateway on alice's LND with ports picked by the OS, a silent log, its store at `storePath`, and `services`. */
export function startRegtestGateway(options: {
  storePath: string;
  limits: { challengeBurst: number; challengesPerMinute: number };
  services: unknown[];
}): Promise<RunningGateway> {
  return startGateway(
    parseConfig({
      listen: { port: 0 },
      operator: { port: 0 },
      lnd: gatewayLndConfig(testNetwork().nodes.alice),
      store: { path: options.storePath },
      log: { level: "silent" },
      limits: options.limits,
      services: options.services,
    }),
    { log: pino({ level: "silent" }) },
  );
}
