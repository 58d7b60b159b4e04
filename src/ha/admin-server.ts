/**
 * The HA admin API (haadminapi.HAAdmin: Status, Promote, Demote;
 * operations.md §4.7) for `argocd-agent ctl ha`. Served plaintext and without
 * authentication, as upstream, so it binds to 127.0.0.1 only: whoever can run
 * a process next to the principal (kubectl exec / port-forward) may use it.
 * A refused promote or demote answers FAILED_PRECONDITION with the reason.
 *
 * @example
 *   const admin = await startHaAdminServer({ port: 8405, controller });
 *   // argocd-agent ctl ha status --address 127.0.0.1:8405
 *   await admin.close();
 */
import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import { getLogger } from "../observability/log.ts";
import { HAAdminService, type HAAdminServer } from "../proto/gen/haadmin.ts";
import { HaPreconditionError, type HaController } from "./ha-controller.ts";
import { grpcError } from "./replication-service.ts";

const log = getLogger("ha");

/** Upstream's default admin port (--ha-admin-port 0). */
export const DEFAULT_HA_ADMIN_PORT = 8405;
export const HA_ADMIN_HOST = "127.0.0.1";

export interface HaAdminServer {
  port: number;
  close(): Promise<void>;
}

type AdminController = Pick<HaController, "status" | "promote" | "demote">;

function adminService(controller: AdminController): HAAdminServer {
  const answer = <T>(what: string, run: () => Promise<T>, cb: (err: Error | null, res?: T) => void) => {
    run().then(
      (res) => cb(null, res),
      (err: Error) => {
        if (err instanceof HaPreconditionError) {
          log.info(`${what} refused`, { reason: err.message });
          return cb(grpcError(status.FAILED_PRECONDITION, err.message));
        }
        log.error(`${what} failed`, { error: err });
        cb(grpcError(status.INTERNAL, `${what} failed: ${err.message}`));
      },
    );
  };
  return {
    status: (_call, cb) => cb(null, controller.status()),
    promote: (call, cb) => {
      log.info("promote requested through the admin API", { force: call.request.force });
      answer("promote", async () => ({ state: await controller.promote(call.request.force) }), cb);
    },
    demote: (_call, cb) => {
      log.info("demote requested through the admin API");
      answer("demote", async () => ({ state: await controller.demote() }), cb);
    },
  };
}

/** Serves HAAdmin on 127.0.0.1:<port> (0: DEFAULT_HA_ADMIN_PORT). */
export async function startHaAdminServer(opts: { port: number; controller: AdminController }): Promise<HaAdminServer> {
  const server = new Server();
  server.addService(HAAdminService, adminService(opts.controller));
  const address = `${HA_ADMIN_HOST}:${opts.port || DEFAULT_HA_ADMIN_PORT}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  log.info("HA admin API listening (plaintext, loopback only)", { address: `${HA_ADMIN_HOST}:${port}` });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}
